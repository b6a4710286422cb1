"""Hostile or broken input met as a nightly run would meet it (docs/operations.md, "Failure modes"):
Parquet text that is not UTF-8, right-to-left text in `echoroom sql`'s table, Slack export paths
that leave the export, and a log file or state folder the run cannot write."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from echoroom import catalog, cli, store
from echoroom.ingest import IngestError
from echoroom.ingest.session import OUTSIDE
from echoroom.run import pipeline
from echoroom.scoring import corpus as scoring_corpus

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
FSI, PDI = "\u2068", "\u2069"
NOT_UTF8 = r"not UTF-8 text \(byte 0xe9\); write the file again with that column as UTF-8 text"


def unchecked_strings(values: list[bytes]) -> pa.Array:
    """A string array holding these bytes as they are: what a writer that skips Arrow's UTF-8
    check (C code, another language's Parquet library) can store."""
    offsets = np.cumsum([0] + [len(v) for v in values]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(values),
                                 [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(values))])


def bad_parquet(path: Path, text: pa.Array, row_group_size: int = 2) -> Path:
    n = len(text)
    pq.write_table(pa.table({
        "message_id": [f"m{i}" for i in range(n)], "text": text, "sender": ["ana"] * n,
        "sent_at": pa.array(range(1_700_000_000, 1_700_000_000 + n), pa.timestamp("s")),
    }), path, row_group_size=row_group_size)
    return path


TEXTS = [b"hello", b"fine", b"caf\xe9 ok", b"bye"]  # the bad one is row 3, in the second row group


@pytest.mark.parametrize("kind", ["string", "binary"])
def test_parquet_text_that_is_not_utf8_is_a_record_error_at_its_row_and_column(tmp_path, kind):
    text = unchecked_strings(TEXTS) if kind == "string" else pa.array(TEXTS, pa.binary())
    path = bad_parquet(tmp_path / "bad.parquet", text)
    where = rf"bad.parquet: row 3, column 'text': {NOT_UTF8}"
    with pytest.raises(IngestError, match=where + r".*use --on-error skip"):
        corpus(tmp_path, path, timezone="UTC")
    got, summary = corpus(tmp_path, path, timezone="UTC", on_error="skip")
    assert summary.skipped["malformed"] == 1 and re.search(where, summary.problems[0])
    # A binary column of good UTF-8 is text, not Python's b'...' spelling of bytes.
    assert got["text"].to_list() == ["hello", "fine", "bye"]


def test_the_ingest_command_names_the_row_and_skips_it_when_asked(tmp_path, capsys):
    path = bad_parquet(tmp_path / "bad.parquet", unchecked_strings(TEXTS))
    out = str(tmp_path / "corpus.parquet")
    assert cli.main(["ingest", str(path), "--out", out, "--timezone", "UTC"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"error: .*bad.parquet: row 3, column 'text': {NOT_UTF8}", err)
    assert "Traceback" not in err and not Path(out).exists()
    assert cli.main(["ingest", str(path), "--out", out, "--timezone", "UTC", "--on-error", "skip"]) == 0
    assert re.search(r"skipped 1: malformed\n  .*bad.parquet: row 3, column 'text'", capsys.readouterr().out)


def test_scoring_stops_at_a_corpus_string_that_is_not_utf8_naming_file_row_and_column(tmp_path):
    path = bad_parquet(tmp_path / "bad.parquet", unchecked_strings(TEXTS))
    with pytest.raises(scoring_corpus.CorpusError, match=rf"bad.parquet: row 3, column 'text': {NOT_UTF8}"):
        scoring_corpus.inspect([str(path)])
    # Any column: one kept as extra JSON would fail the same way, mid-run.
    table = pq.read_table(bad_parquet(tmp_path / "ok.parquet", pa.array(["a", "b", "c", "d"])))
    pq.write_table(table.append_column("note", unchecked_strings([b"x", b"\xff", b"y", b"z"])),
                   tmp_path / "ok.parquet")
    where = r"ok.parquet: row 2, column 'note': not UTF-8 text \(byte 0xff\)"
    with pytest.raises(scoring_corpus.CorpusError, match=where):
        scoring_corpus.inspect([str(tmp_path / "ok.parquet")])


def test_the_run_stops_with_the_input_exit_code_at_parquet_text_that_is_not_utf8(tmp_path, capsys):
    bad_parquet(tmp_path / "bad.parquet", unchecked_strings(TEXTS))
    (tmp_path / "echoroom.toml").write_text(
        'database = "data/echoroom.duckdb"\nstate_dir = "state"\n[[inputs]]\npaths = ["bad.parquet"]\n'
        'corpus = "data/corpus.parquet"\ntimezone = "UTC"\n')
    assert pipeline.main(str(tmp_path / "echoroom.toml")) == 4
    err = capsys.readouterr().err
    assert re.search(rf"ingest failed \(input, exit 4\): .*bad.parquet: row 3, column 'text': {NOT_UTF8}", err)
    assert "Traceback" not in err and not (tmp_path / "data" / "corpus.parquet").exists()


def test_rtl_text_and_bidi_controls_cannot_reorder_the_sql_table(tmp_path, capsys):
    db = tmp_path / "echoroom.duckdb"
    store.connect(db).close()
    sql = ("SELECT 'שלום עולם' AS text, 42 AS n, 'evil \u202egnp.exe' AS name, 'ana' AS sender "
           "UNION ALL SELECT repeat('ش', 80), 7, 'ok', 'ben' ORDER BY n DESC")
    assert cli.main(["sql", "--db", str(db), "--sql", sql]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert f"| {FSI}שלום עולם{PDI} " in lines[2] and f"| {FSI}{'ش' * 60}...{PDI} " in lines[3]
    assert "\u202e" not in out and "evil [U+202E]gnp.exe" in out  # the report's own rule
    assert f"{FSI}ana" not in out and f"{FSI}ok" not in out  # left-to-right cells as they are
    # Every row as wide as the header: the isolates take no room.
    widths = {len(line.replace(FSI, "").replace(PDI, "")) for line in lines[:4]}
    assert len(widths) == 1
    assert catalog.table(["שם"], [("a",)]).startswith(f"| {FSI}שם{PDI}")


def slack_export(tmp_path: Path) -> Path:
    folder = tmp_path / "slack"
    shutil.copytree(EXPORTS / "slack", folder)
    return folder


def test_slack_paths_that_leave_the_export_are_never_read_and_are_named(tmp_path):
    clean, _ = corpus(tmp_path, slack_export(tmp_path / "clean"))
    day = (EXPORTS / "slack" / "general" / "2024-01-15.json").read_bytes()
    archive = tmp_path / "slack.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((EXPORTS / "slack").rglob("*.json")):
            z.write(p, p.relative_to(EXPORTS / "slack").as_posix())
        for name in ("general/../../x.json", "../general/2024-01-16.json", "/etc/general/2024-01-17.json",
                     "..\\random\\2024-01-18.json"):
            z.writestr(name, day.replace(b'"ts": "', b'"ts": "9'))
    got, summary = corpus(tmp_path, archive)
    assert got["message_id"].sort().to_list() == clean["message_id"].sort().to_list()
    assert summary.skipped[OUTSIDE] == 4
    shown = str(summary)
    assert f"skipped 4: {OUTSIDE}\n  {archive}:../general/2024-01-16.json" in shown
    assert f"{archive}:general/../../x.json" in shown

    # A folder: a link to a file out of it is the same path out.
    outside = tmp_path / "elsewhere" / "2024-01-19.json"
    outside.parent.mkdir()
    outside.write_bytes(day)
    folder = slack_export(tmp_path / "linked")
    os.symlink(outside, folder / "general" / "2024-01-19.json")
    got, summary = corpus(tmp_path, folder)
    assert len(got) == len(clean) and summary.skipped[OUTSIDE] == 1
    assert f"  {folder / 'general' / '2024-01-19.json'}" in str(summary)


CONFIG = 'database = "data/echoroom.duckdb"\n{extra}\n[[inputs]]\npaths = ["chat.txt"]\ncorpus = "c.parquet"\n'


@pytest.mark.parametrize("extra, key, problem", [
    ('log_file = "afile/echoroom.log"', "log_file", r"'.*afile/echoroom.log': .*afile is a file, not a folder"),
    ('log_file = "logs"', "log_file", r"'.*logs': a folder, not a file"),
    ('state_dir = "afile"', "state_dir", r"'.*afile': a file, not a folder"),
    ('state_dir = "afile/state"', "state_dir", r"'.*afile/state': .*afile is a file, not a folder"),
])
def test_an_unwritable_log_file_or_state_dir_is_a_config_error_before_any_work(tmp_path, capsys, extra, key,
                                                                               problem):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "logs").mkdir()
    (tmp_path / "echoroom.toml").write_text(CONFIG.format(extra=extra))
    assert pipeline.main(str(tmp_path / "echoroom.toml")) == 3
    err = capsys.readouterr().err
    assert re.search(rf"error: .*echoroom.toml: {key}: {problem}; set {key} to a path this user can write", err)
    assert "Traceback" not in err and not (tmp_path / "data").exists()  # no lock taken, nothing made


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_state_folder_is_a_config_error(tmp_path, capsys):
    (tmp_path / "ro").mkdir(mode=0o555)
    (tmp_path / "echoroom.toml").write_text(CONFIG.format(extra='state_dir = "ro/state"'))
    assert pipeline.main(str(tmp_path / "echoroom.toml")) == 3
    assert re.search(r"state_dir: '.*ro/state': cannot write in .*ro: Permission denied", capsys.readouterr().err)
