"""Local times without --timezone: read in the machine's zone, said in the summary, recorded in the
corpus; --timezone wins; exports with offsets keep them."""

from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from echoroom.cli import main
from echoroom.ingest import TIMEZONE_KEY, IngestError
from echoroom.ingest.zones import FALLBACK, LOCAL, chosen

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
DOTS = EXPORTS / "whatsapp" / "android_de_dots.txt"  # first message 03.02.24, 21:15
UTC = timezone.utc


def metadata(path: Path) -> dict[str, str]:
    meta = pq.read_metadata(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"echoroom.")}


def test_without_timezone_the_local_zone_is_used_said_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    df, summary = corpus(tmp_path, DOTS)
    assert df["sent_at"][0] == datetime(2024, 2, 3, 12, 15, tzinfo=UTC)  # 21:15 in Tokyo
    assert "times read as Asia/Tokyo, the local zone; --timezone to change" in str(summary)
    assert metadata(tmp_path / "corpus.parquet") == {TIMEZONE_KEY: "Asia/Tokyo",
                                                     TIMEZONE_KEY + "_source": "local"}


def test_the_option_wins_over_the_local_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    df, summary = corpus(tmp_path, DOTS, timezone="Europe/Berlin")
    assert df["sent_at"][0] == datetime(2024, 2, 3, 20, 15, tzinfo=UTC)
    assert "times read as Europe/Berlin (--timezone)" in str(summary)
    assert metadata(tmp_path / "corpus.parquet")[TIMEZONE_KEY + "_source"] == "option"


def test_exports_with_offsets_keep_them_and_name_no_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    discord = EXPORTS / "discord" / "Echo Guild - Text Channels - general [1100000000000000001].json"
    df, summary = corpus(tmp_path, discord)
    assert df["sent_at"][1] == datetime(2024, 1, 15, 9, 5, tzinfo=UTC)
    assert "times read as" not in str(summary)
    assert metadata(tmp_path / "corpus.parquet") == {}


def test_the_local_zone_from_tz_localtime_or_etc_timezone(tmp_path):
    zoneinfo = tmp_path / "usr" / "share" / "zoneinfo" / "America"
    zoneinfo.mkdir(parents=True)
    (zoneinfo / "New_York").write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(zoneinfo / "New_York")
    missing = tmp_path / "no-timezone-file"
    assert chosen(None, {"TZ": ":Europe/Paris"}, link, missing).name == "Europe/Paris"
    assert chosen(None, {"TZ": "/usr/share/zoneinfo/Asia/Kolkata"}, link, missing).name == "Asia/Kolkata"
    found = chosen(None, {}, link, missing)
    assert (found.name, found.source) == ("America/New_York", LOCAL)
    named = tmp_path / "timezone"
    named.write_text("Australia/Sydney\n")
    assert chosen(None, {}, tmp_path / "plain-file", named).name == "Australia/Sydney"


def test_no_iana_name_falls_back_to_utc_and_says_why(tmp_path):
    plain = tmp_path / "localtime"
    plain.write_bytes(b"TZif")  # a copy, not a link: no name to read
    found = chosen(None, {}, plain, tmp_path / "missing")
    assert (found.name, found.source) == ("UTC", FALLBACK)
    assert found.describe().startswith("times read as UTC: no IANA zone name found for this machine")
    posix = chosen(None, {"TZ": "CET-1CEST"}, plain, tmp_path / "missing")
    assert posix.name == "UTC" and "TZ='CET-1CEST' is not an IANA zone name" in posix.describe()


def test_an_unknown_timezone_is_refused(tmp_path):
    with pytest.raises(IngestError, match="unknown timezone 'Mars/Olympus'; use an IANA name"):
        corpus(tmp_path, DOTS, timezone="Mars/Olympus")


def test_the_cli_needs_no_timezone_for_whatsapp_and_telegram(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    old_telegram = tmp_path / "result.json"  # "date" only, no date_unixtime: local time
    old_telegram.write_text('{"name": "Club", "type": "private_group", "id": 7, "messages": ['
                            '{"id": 1, "type": "message", "date": "2024-07-01T10:00:00", "from": "A", '
                            '"text": "hi"}]}', encoding="utf-8")
    out = tmp_path / "corpus.parquet"
    assert main(["ingest", str(DOTS), str(old_telegram), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "times read as Europe/Berlin, the local zone; --timezone to change" in printed
    assert metadata(out)[TIMEZONE_KEY] == "Europe/Berlin"
