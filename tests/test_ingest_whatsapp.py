"""WhatsApp exports: layouts, locales, notices, zips, stable ids, bad lines, and the demo chat."""

import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from echoroom.ingest import IngestError

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports" / "whatsapp"
DEMO = Path(__file__).parents[1] / "echoroom" / "demo"
UTC = timezone.utc


def test_android_24h_day_first_with_bom_crlf_notices_media_and_multiline(tmp_path):
    df, summary = corpus(tmp_path, EXPORTS / "WhatsApp Chat with Team.txt",
                         timezone="Europe/London")
    assert df["sender"].to_list() == ["Ana", "Ben", "Ben", "Carla", "Carla", "Ben",
                                      "+44 7700 900123"]  # U+202A/U+202C marks removed
    assert df["conversation_id"].unique().to_list() == ["whatsapp:Team"]
    assert df["text"][4] == "Shopping list for the offsite:\n- coffee\n- biscuits\n\n- more coffee"
    assert df["text"][5] == "I'll kill you if you eat my lunch again lol"  # edit marker dropped
    assert df["sent_at"][0] == datetime(2024, 1, 15, 9, 2, tzinfo=UTC)
    assert summary.skipped == {"system message": 3, "no text (media, sticker or embed)": 1,
                               "deleted message": 1}
    assert summary.written == 7


@pytest.mark.parametrize("name, zone, first_utc, last_utc", [
    # m/d/yy, h:mm AM with the narrow no-break space newer Android versions write
    ("android_us_12h.txt", "America/New_York", datetime(2024, 1, 15, 14, 5),
     datetime(2024, 1, 16, 5, 5)),  # 12:05 AM is just after midnight
    ("android_de_dots.txt", "Europe/Berlin", datetime(2024, 2, 3, 20, 15),
     datetime(2024, 2, 13, 6, 0)),  # dd.mm.yy, HH:MM
    ("_chat.txt", "Australia/Sydney", datetime(2024, 2, 2, 22, 15, 30),
     datetime(2024, 2, 13, 11, 3)),  # iOS [d/m/yy, h:mm:ss AM], 3 Feb 9:15 AM in Sydney
])
def test_locale_layouts(tmp_path, name, zone, first_utc, last_utc):
    df, _ = corpus(tmp_path, EXPORTS / name, timezone=zone)
    assert df["sent_at"][0] == first_utc.replace(tzinfo=UTC)
    assert df["sent_at"][-1] == last_utc.replace(tzinfo=UTC)


def test_ios_notices_and_attachments_are_counted_not_written(tmp_path):
    df, summary = corpus(tmp_path, EXPORTS / "_chat.txt", timezone="Europe/London")
    assert df["text"].to_list() == ["Did you get home safe?",
                                    "Yes! Thanks for dinner, it was lovely ❤️",
                                    "So proud of you.\nDad says hi", "Look at this!! 😱"]
    assert summary.skipped == {"system message": 2, "no text (media, sticker or embed)": 2}


def test_zip_names_the_chat_after_the_archive(tmp_path):
    archive = tmp_path / "WhatsApp Chat - Family.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(EXPORTS / "_chat.txt", "_chat.txt")
        z.writestr("00000042-PHOTO-2024-02-13-22-02-30.jpg", b"\xff\xd8 not really a photo")
    df, _ = corpus(tmp_path, archive, timezone="Europe/London")
    assert df["conversation_id"].unique().to_list() == ["whatsapp:Family"]
    assert len(df) == 4


def test_date_order_from_the_direction_dates_run_and_its_override(tmp_path):
    # No day above 12. Day-first these run 2 Jan, 3 Jan, 1 Feb: forward. Month-first they run
    # 1 Feb, 1 Mar, 2 Jan: backwards once. So day-first is taken.
    chat = tmp_path / "chat.txt"
    chat.write_text("2/1/24, 10:00 - A: one\n3/1/24, 10:00 - B: two\n1/2/24, 10:00 - A: three\n",
                    encoding="utf-8")
    df, _ = corpus(tmp_path, chat, timezone="UTC")
    assert [d.month for d in df["sent_at"]] == [1, 1, 2]  # day-first runs forward
    df, _ = corpus(tmp_path, chat, timezone="UTC", date_order="mdy")
    assert [d.month for d in df["sent_at"]] == [2, 3, 1]


def test_ids_are_stable_across_reingest_and_a_longer_export(tmp_path):
    full = (EXPORTS / "WhatsApp Chat with Team.txt").read_text(encoding="utf-8-sig")
    lines = full.splitlines(keepends=True)
    older = tmp_path / "old" / "WhatsApp Chat with Team.txt"
    older.parent.mkdir()
    older.write_text("".join(lines[:5]), encoding="utf-8")  # up to the first "ok"
    old, _ = corpus(tmp_path, older, timezone="Europe/London")
    new, _ = corpus(tmp_path, EXPORTS / "WhatsApp Chat with Team.txt", timezone="Europe/London")
    again, _ = corpus(tmp_path, EXPORTS / "WhatsApp Chat with Team.txt", timezone="Europe/London")
    assert new["message_id"].to_list() == again["message_id"].to_list()
    assert new["message_id"].to_list()[:2] == old["message_id"].to_list()
    assert new["message_id"].n_unique() == len(new)  # the two "ok"s differ by occurrence
    # The ids do not depend on how the wall times are read.
    other_zone, _ = corpus(tmp_path, EXPORTS / "WhatsApp Chat with Team.txt", timezone="Asia/Tokyo")
    assert other_zone["message_id"].to_list() == new["message_id"].to_list()


def test_overlapping_exports_write_each_message_once(tmp_path):
    lines = (EXPORTS / "android_de_dots.txt").read_text(encoding="utf-8").splitlines(True)
    older = tmp_path / "android_de_dots.txt"
    older.write_text("".join(lines[:2]), encoding="utf-8")
    df, summary = corpus(tmp_path, older, EXPORTS / "android_de_dots.txt", timezone="Europe/Berlin")
    assert len(df) == 3
    assert summary.skipped == {"duplicate of an earlier message": 2}


def test_an_impossible_date_names_file_and_line_or_is_counted(tmp_path):
    chat = tmp_path / "chat.txt"
    chat.write_text("15/01/24, 10:00 - A: fine\n31/02/24, 10:01 - B: never\nmore of it\n"
                    "15/01/24, 10:02 - A: fine again\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"chat\.txt:2: impossible date or time 31/02/24 10:01"):
        corpus(tmp_path, chat, timezone="UTC")
    assert not (tmp_path / "corpus.parquet").exists()  # a stopped run leaves no corpus
    df, summary = corpus(tmp_path, chat, timezone="UTC", on_error="skip")
    assert df["text"].to_list() == ["fine", "fine again"]
    assert summary.skipped == {"malformed": 1}
    assert "chat.txt:2: impossible date" in str(summary)


def test_text_before_any_header_and_invalid_utf8_are_reported(tmp_path):
    chat = tmp_path / "chat.txt"
    chat.write_bytes(b"stray text\n15/01/24, 10:00 - A: caf\xe9\n15/01/24, 10:01 - A: ok\n")
    with pytest.raises(IngestError, match=r"chat\.txt:1: text before the first message header"):
        corpus(tmp_path, chat, timezone="UTC")
    df, summary = corpus(tmp_path, chat, timezone="UTC", on_error="skip")
    assert df["text"].to_list() == ["ok"]
    assert summary.skipped["malformed"] == 2
    assert any("chat.txt:2: not UTF-8" in p for p in summary.problems)


def test_the_demo_chat_parses_whole(tmp_path):
    chats = sorted(DEMO.glob("whatsapp_*.txt"))
    assert chats, "demo chats missing"
    df, summary = corpus(tmp_path, *chats, timezone="Europe/London")
    assert len(df) >= 300
    assert df["message_id"].n_unique() == len(df)
    assert summary.skipped["malformed"] == 0 and summary.skipped["duplicate of an earlier message"] == 0
    assert df["conversation_id"].n_unique() == len(chats)
    for _, chat in df.group_by("conversation_id"):
        assert chat["sent_at"].is_sorted()
    texts = " ".join(df["text"].to_list()).lower()
    assert "kill you" in texts and "love it" in texts
