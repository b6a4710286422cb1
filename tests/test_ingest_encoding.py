"""One decoding policy for every text format: bytes that are not UTF-8 are a per-record error at
FILE:LINE (stop, or counted as malformed under skip), and binary input is not read as any format."""

import random
import re
import shutil
from pathlib import Path

import pytest

from echoroom.cli import main
from echoroom.ingest import IngestError

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
DISCORD = "discord/Echo Guild - Text Channels - general [1100000000000000001]"
TABLE_COLUMNS = {"message_id": "id", "sender": "author", "sent_at": "created", "text": "body",
                 "conversation_id": "room"}

# (export to copy, file in it to corrupt, a message text in that file, options)
CASES = {
    "csv": ("tabular/messages.csv", "", b"Clocks go forward tonight!", {"columns": TABLE_COLUMNS}),
    "jsonl": ("tabular/messages.jsonl", "", b"So sorry about that!", {}),
    "whatsapp": ("whatsapp/_chat.txt", "", b"Thanks for dinner", {}),
    "discord json": (DISCORD + ".json", "", b"gm! coffee first", {}),
    "discord csv": (DISCORD + ".csv", "", b"gm! coffee first", {}),
    "telegram": ("telegram/single", "result.json", b"Who finished the book?", {}),
    "slack": ("slack", "general/2024-01-15.json", b"Release notes are in", {}),
}


def corrupted(tmp_path: Path, case: str) -> tuple[Path, Path, str, int]:
    """A clean copy and a copy with one Latin-1 byte in one message: (clean, bad, bad file, line)."""
    export, inner, text, _ = CASES[case]
    copies = []
    for name in ("clean", "bad"):
        target = tmp_path / name / Path(export).name
        target.parent.mkdir()
        (shutil.copytree if (EXPORTS / export).is_dir() else shutil.copy)(EXPORTS / export, target)
        copies.append(target)
    bad_file = copies[1] / inner if inner else copies[1]
    data = bad_file.read_bytes()
    bad_file.write_bytes(data.replace(text, text + b" caf\xe9", 1))
    return copies[0], copies[1], bad_file.name, data[:data.index(text)].count(b"\n") + 1


@pytest.mark.parametrize("case", CASES)
def test_bytes_that_are_not_utf8_are_a_record_error_at_their_line(tmp_path, case):
    clean, bad, name, line = corrupted(tmp_path, case)
    options = {"timezone": "UTC", **CASES[case][3]}
    where = rf"{re.escape(name)}:{line}: not UTF-8 text \(byte 0xe9\); export the chat again as UTF-8"
    with pytest.raises(IngestError, match=where + r".*use --on-error skip"):
        corpus(tmp_path, bad, **options)
    want, _ = corpus(tmp_path, clean, **options)
    got, summary = corpus(tmp_path, bad, on_error="skip", **options)
    assert summary.skipped["malformed"] == 1 and re.search(where, summary.problems[0])
    assert len(got) == len(want) - 1
    assert not got["text"].str.contains("caf").any()


def test_a_csv_header_that_is_not_utf8_stops_even_under_skip(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(b"sender,sent_at,t\xe9xt\nAna,2024-01-15T09:00:00Z,hi\n")
    with pytest.raises(IngestError, match=r"export\.csv:1: header line is not UTF-8 text \(byte 0xe9\)"):
        corpus(tmp_path, export, on_error="skip")


def test_a_multiline_csv_record_is_reported_at_the_line_it_starts_on(tmp_path):
    export = tmp_path / "export.csv"
    export.write_bytes(b'sender,sent_at,text\nAna,1705309200,"two\nlines"\nBo,1705309260,"a\ncaf\xe9"\n'
                       b"Cy,1705309320,fine\n")
    df, summary = corpus(tmp_path, export, on_error="skip")
    assert df["text"].to_list() == ["two\nlines", "fine"]
    assert summary.problems[0].startswith(f"{export}:4: not UTF-8 text")


def test_binary_input_is_not_read_as_any_format(tmp_path):
    blob = tmp_path / "blob.csv"
    blob.write_bytes(random.Random(15).randbytes(4096))
    with pytest.raises(IngestError, match=r"blob\.csv: cannot tell the export format from its content: "
                                          r"it is not text .*Supported formats: whatsapp"):
        corpus(tmp_path, blob)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("sender,sent_at,text\nAna,1705309200,hi\n", encoding="utf-16")
    with pytest.raises(IngestError, match=r"utf16\.csv: cannot tell the export format"):
        corpus(tmp_path, utf16)


def test_cli_exit_codes_for_bytes_that_are_not_utf8(tmp_path, capsys):
    _, bad, name, line = corrupted(tmp_path, "jsonl")
    out = str(tmp_path / "c.parquet")
    assert main(["ingest", str(bad), "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"{name}:{line}: not UTF-8 text" in err and "Traceback" not in err
    assert main(["ingest", str(bad), "--out", out, "--on-error", "skip"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 1: malformed" in printed and f"{name}:{line}: not UTF-8 text" in printed


def test_echoroom_run_exits_4_on_bytes_that_are_not_utf8(tmp_path, capsys):
    _, bad, name, line = corrupted(tmp_path, "jsonl")
    cfg = tmp_path / "echoroom.toml"
    cfg.write_text(f'database = "data/echoroom.duckdb"\noutput_dir = "report"\nstate_dir = "state"\n'
                   f'[[inputs]]\npaths = ["{bad}"]\ncorpus = "data/corpus.parquet"\n')
    assert main(["run", "--config", str(cfg)]) == 4
    err = capsys.readouterr().err
    assert f"{name}:{line}: not UTF-8 text" in err and "Traceback" not in err


def test_bytes_that_are_not_utf8_in_a_json_field_no_reader_uses_are_harmless(tmp_path):
    export = tmp_path / "result.json"
    data = (EXPORTS / "telegram" / "single" / "result.json").read_bytes()
    export.write_bytes(data.replace(b'"name": "Book Club",', b'"name": "Book Club",\n "about": "caf\xe9",', 1))
    want, _ = corpus(tmp_path, EXPORTS / "telegram" / "single" / "result.json")
    got, summary = corpus(tmp_path, export)
    assert got["text"].to_list() == want["text"].to_list() and not summary.problems
