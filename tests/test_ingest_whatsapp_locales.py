"""WhatsApp header shapes and notices beyond English: other digits and calendars, time or year
first, 12-hour markers in other scripts, notices in other languages, the date order reported."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from echoroom.ingest import IngestError
from echoroom.ingest.whatsapp_headers import Headers
from echoroom.ingest.whatsapp_notices import LOCALES, PHRASES

from helpers import corpus

LOCALE_EXPORTS = Path(__file__).parent / "fixtures" / "exports" / "whatsapp_locales"
UTC = timezone.utc
SYSTEM, MEDIA, DELETED = "system message", "no text (media, sticker or embed)", "deleted message"


@pytest.mark.parametrize("name, sent_at, texts, skipped", [
    # Arabic-Indic digits, RLM marks inside the date, Arabic comma, ص/م; an Arabic notice and
    # media placeholder
    ("ar_android.txt", [(2022, 3, 18, 14, 56), (2022, 3, 19, 9, 5)],
     ["مرحبا، كيف حالك؟", "بخير، شكرا"], {SYSTEM: 1, MEDIA: 1}),
    # iOS with marks before and inside the bracket; a group notice flagged by U+200E
    ("ar_ios.txt", [(2022, 3, 18, 14, 56, 1)], ["أهلا سارة\nسطر ثان"], {SYSTEM: 1}),
    # Buddhist years: 2565 BE is 2022
    ("th_ios_buddhist.txt", [(2022, 3, 18, 14, 56, 1), (2022, 3, 19, 9)],
     ["สวัสดีครับ", "สวัสดีค่ะ"], {}),
    # Japanese eras (R4 = 令和4 = 2022, H31 = 2019), 午後; a Japanese notice without its mark
    ("ja_ios_era.txt", [(2022, 12, 14, 13, 34, 56), (2022, 12, 15, 13), (2019, 4, 30, 9, 15)],
     ["こんにちは", "了解です", "平成最後の日"], {SYSTEM: 1}),
    ("vi_ios_time_first.txt", [(2022, 3, 18, 14, 56, 1), (2022, 3, 19, 9)],
     ["chào bạn", "chào buổi sáng"], {}),
    ("android_year_first_trailing_dot.txt", [(2022, 12, 14, 13, 34), (2022, 12, 14, 13, 35)],
     ["hi there", "hello"], {}),
    ("hu_android.txt", [(2022, 12, 14, 13, 36), (2022, 12, 15, 8, 2)], ["szia", "jó reggelt"], {}),
    # "00:08 a. m." is 8 past midnight; Spanish notice, subject holding ": ", media, deleted,
    # edit marker
    ("es_android_am_pm.txt", [(2022, 12, 14, 0, 8), (2022, 12, 14, 12, 32)],
     ["hola, ¿llegaste bien?", "sí, todo bien"], {SYSTEM: 2, MEDIA: 1, DELETED: 1}),
    ("ko_android.txt", [(2022, 12, 14, 13, 34), (2022, 12, 15, 9)], ["안녕하세요", "좋은 아침"], {}),
    ("zh_android.txt", [(2022, 12, 14, 13, 34)], ["你好"], {SYSTEM: 1, MEDIA: 1}),
    # Persian digits and the Solar Hijri calendar: 1401/9/23 is 14 December 2022
    ("fa_ios_solar_hijri.txt", [(2022, 12, 14, 13, 34), (2022, 12, 15, 8)],
     ["سلام", "صبح بخیر"], {}),
    # German iOS notices without marks: from the group itself, or a sentence known as a notice;
    # "hinzugefügt" from a person is a message
    ("WhatsApp Chat - Familie.txt", [(2022, 12, 14, 13, 32), (2022, 12, 14, 13, 34)],
     ["Hallo zusammen", "Hab ich hinzugefügt, danke"], {SYSTEM: 3}),
])
def test_header_shapes_and_notices(tmp_path, name, sent_at, texts, skipped):
    df, summary = corpus(tmp_path, LOCALE_EXPORTS / name, timezone="UTC")
    assert df["sent_at"].to_list() == [datetime(*t, tzinfo=UTC) for t in sent_at]
    assert df["text"].to_list() == texts
    assert dict(summary.skipped) == skipped


@pytest.mark.parametrize("name, note", [
    ("th_ios_buddhist.txt", "dates read as month/day/year (a day above 12 in the second place on "
                            "line 1; --date-order to change)"),
    ("th_ios_buddhist.txt", "Buddhist calendar years (BE) read as year - 543"),
    ("ja_ios_era.txt", "Japanese era years read as Gregorian years"),
    ("fa_ios_solar_hijri.txt", "Solar Hijri (Persian calendar) dates read as Gregorian dates"),
    ("ar_android.txt", "dates read as day/month/year (a day above 12 in the first place on line 1"),
])
def test_the_summary_says_how_dates_were_read(tmp_path, name, note):
    _, summary = corpus(tmp_path, LOCALE_EXPORTS / name, timezone="UTC")
    assert note in str(summary)


def test_a_file_mixing_day_and_month_first_goes_with_the_majority_and_says_so(tmp_path):
    chat = LOCALE_EXPORTS / "mixed_day_month.txt"
    with pytest.raises(IngestError, match=r"mixed_day_month\.txt:3: impossible date or time "
                                          r"01/15/22 10:00 \(read as day/month/year"):
        corpus(tmp_path, chat, timezone="UTC")
    df, summary = corpus(tmp_path, chat, timezone="UTC", on_error="skip")
    assert df["text"].to_list() == ["one", "two", "three"]
    assert "but 1 line(s) read the other way, first line 3, and will not parse" in str(summary)


def test_no_day_above_12_is_decided_by_the_direction_and_reported(tmp_path):
    chat = tmp_path / "chat.txt"
    chat.write_text("1/2/24, 10:00 - A: one\n1/3/24, 10:00 - B: two\n2/1/24, 10:00 - A: three\n",
                    encoding="utf-8")
    df, summary = corpus(tmp_path, chat, timezone="UTC")
    assert [d.month for d in df["sent_at"]] == [1, 1, 2]
    assert "no day above 12; the dates run forward read month first" in str(summary)


@pytest.mark.parametrize("line", [
    "\u200e[1/15/24, 9:05:12\u202fAM] Ana: hi", "15/01/2024, 09:05 - Ana: hi",
    "١٥\u200f/١\u200f/٢٠٢٤، ٩:٠٥ ص - أحمد: hi", "[15.01.24, 09:05:12] Ana: hi",
    "2024/01/15 上午9:05 - 小明: hi", "[2024/01/15 午前9:05:12] 太郎: hi", "[9:05:12, 1/15/24] Nam: hi",
    "15/01/24, 9:05 a.\u00a0m. - Ana: hi", "[15/01/2567 BE, 09:05:12] Somchai: hi",
    "15/01/24 9:05 ق.ظ - علی: hi", "[R6/1/15 9:05:12] 太郎: hi",
])
def test_every_shape_gives_the_same_instant(line):
    header = Headers().parse(line)
    assert header is not None, line
    order = "mdy" if line.startswith(("\u200e[1/", "[9:")) else "dmy"
    assert header.wall(order) == datetime(2024, 1, 15, 9, 5, header.second)
    assert header.rest.endswith(": hi")


@pytest.mark.parametrize("line", ["just a line", "12/5/2023 - notes without a time",
                                  "[10:00] not a header", "2024-01-15 09:05: Ana: hi"])
def test_continuation_lines_are_not_headers(line):
    assert Headers().parse(line) is None


def test_sixteen_locales_have_every_kind_of_phrase():
    assert len(LOCALES) >= 16
    for locale, table in PHRASES.items():
        assert set(table) == {"notice", "member", "call", "media", "deleted", "edited"}, locale
        assert all(table[kind] for kind in table), locale
