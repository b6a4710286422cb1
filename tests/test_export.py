"""`echoroom export`: the Parquet lake, read back with DuckDB as docs/lake.md reads it and compared
row for row with message_lenses, over databases the real scoring job filled run after run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock

from echoroom import catalog, cli, lake, store
from echoroom.lake import LakeError
from jobs import score as score_job

import report_fixtures as F

ROOT = Path(__file__).resolve().parent.parent
UNDATED = 2  # messages without sent_at: the NULL day partition


def first_rows() -> list[dict]:
    """The report corpus, hostile text included, plus undated messages and skipped foreign ones."""
    undated = [{"message_id": f"undated-{i}", "conversation_id": "team", "sender": "ana", "sent_at": None,
                "channel": "slack", "text": text} for i, text in enumerate(F.ORDINARY[:UNDATED])]
    return F.corpus_rows() + undated + F.foreign_rows()


def second_rows() -> list[dict]:
    """New messages a month later: what a second run scores."""
    return [{**row, "message_id": f"late-{row['message_id']}", "sent_at": row["sent_at"] + dt.timedelta(days=30)}
            for row in F.corpus_rows(hostile=False)[:10]]


@pytest.fixture(scope="module")
def dbs(tmp_path_factory, lens_root, newer_lens_root) -> dict[str, Path]:
    """One database scored three times, copied after each run: ``first`` (one run), ``second`` (a
    second corpus, same lenses) and ``third`` (the first corpus again with recalibrated lenses: a
    new lens pair, now the current one)."""
    folder = tmp_path_factory.mktemp("export")
    db = folder / "echoroom.duckdb"
    first = F.write_corpus(folder / "first.parquet", first_rows())
    second = F.write_corpus(folder / "second.parquet", second_rows())
    copies = {}
    for name, corpus, lenses in (("first", first, lens_root), ("second", second, lens_root),
                                 ("third", first, newer_lens_root)):
        score_job.main([f"--inputs={corpus}", f"--db={db}", f"--lenses={lenses}", "--progress=false",
                        f"--work_dir={folder / 'work'}"])
        copies[name] = shutil.copy(db, folder / f"{name}.duckdb")
    return {name: Path(path) for name, path in copies.items()}


def read_lake(out: Path) -> tuple[list[str], list[tuple]]:
    """The lake as docs/lake.md reads it in DuckDB: columns and rows, by lens pair and message."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        cur = con.execute(f"SELECT * FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true) "
                          "ORDER BY lens_version, message_id")
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


def lens_rows(db: Path) -> tuple[list[str], list[tuple]]:
    con = store.connect(db, read_only=True)
    try:
        cur = con.execute("SELECT * FROM message_lenses ORDER BY message_id")
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


def by_pair(columns: list[str], rows: list[tuple]) -> dict[str, list[tuple]]:
    """Lake rows per lens_version, without the two partition columns (message_lenses has neither)."""
    keep = [i for i, c in enumerate(columns) if c not in ("day", "lens_version")]
    pairs: dict[str, list[tuple]] = {}
    for row in rows:
        pairs.setdefault(row[columns.index("lens_version")], []).append(tuple(row[i] for i in keep))
    return pairs


def files(out: Path) -> dict[str, tuple[int, int]]:
    """Every file of the lake with its size and modification time: what a no-op leaves alone."""
    return {p.relative_to(out).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


def run_ids(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY finished_at").fetchall()]
    finally:
        con.close()


def test_the_lake_is_message_lenses_row_for_row(dbs, tmp_path):
    out = tmp_path / "lake"
    summary = lake.export(dbs["first"], out)
    columns, rows = read_lake(out)
    want_columns, want = lens_rows(dbs["first"])
    assert columns == [*want_columns, "day", "lens_version"]
    (pair, got), = by_pair(columns, rows).items()
    assert got == want and len(want) == len(F.corpus_rows()) + UNDATED  # the foreign ones were skipped
    author, reader = want[0][want_columns.index("author_version")], want[0][want_columns.index("reader_version")]
    assert pair == f"{author}+{reader}"
    sent, day = columns.index("sent_at"), columns.index("day")
    assert all(r[day] == (r[sent].astimezone(dt.timezone.utc).date() if r[sent] else None) for r in rows)
    assert sum(r[sent] is None for r in rows) == UNDATED
    undated = out / f"lens_version={pair}" / f"day={lake.NULL_DAY}" / f"part-{run_ids(dbs['first'])[0]}.parquet"
    assert undated.is_file()
    (marker,) = summary.written
    assert json.loads((out / "_runs" / marker["run_id"] / "_SUCCESS").read_text()) == marker
    assert marker["rows"] == len(want) and {f["path"] for f in marker["files"]} == {
        p.relative_to(out).as_posix() for p in out.glob("lens_version=*/day=*/*")}


def test_a_second_export_without_a_new_run_writes_nothing(dbs, tmp_path):
    out = tmp_path / "lake"
    lake.export(dbs["first"], out)
    before = files(out)
    summary = lake.export(dbs["first"], out)
    assert (summary.written, summary.already) == ([], 1)
    assert files(out) == before


def test_only_the_new_run_is_written(dbs, tmp_path):
    out = tmp_path / "lake"
    lake.export(dbs["first"], out)
    before = files(out)
    summary = lake.export(dbs["second"], out)
    assert [m["run_id"] for m in summary.written] == run_ids(dbs["second"])[1:] and summary.already == 1
    after = files(out)
    assert {k: after[k] for k in before} == before  # the first run's files untouched
    assert all(run_ids(dbs["second"])[1] in k for k in set(after) - set(before))
    columns, rows = read_lake(out)
    (got,) = by_pair(columns, rows).values()
    assert got == lens_rows(dbs["second"])[1]  # each message once, old and new runs together


def test_a_superseded_pair_keeps_its_partition(dbs, tmp_path):
    """A new lens pair is a new lens_version partition; the old pair's files stay as they were, and
    exporting everything at once gives the same lake as exporting run by run."""
    out = tmp_path / "lake"
    lake.export(dbs["second"], out)
    old = by_pair(*read_lake(out))
    summary = lake.export(dbs["third"], out)
    assert [m["run_id"] for m in summary.written] == run_ids(dbs["third"])[2:]
    pairs = by_pair(*read_lake(out))
    (new_pair,) = set(pairs) - set(old)
    assert new_pair not in old and new_pair.count("+") == 1
    assert pairs == {**old, new_pair: lens_rows(dbs["third"])[1]}
    at_once = tmp_path / "at_once"
    lake.export(dbs["third"], at_once)
    assert read_lake(at_once) == read_lake(out)


def test_a_crashed_export_is_cleaned_and_written_exactly_once(dbs, tmp_path):
    out = tmp_path / "lake"
    (marker,) = lake.export(dbs["first"], out).written
    # What a crash leaves: no marker, a temporary file, and a partition file cut short.
    run_dir = out / "_runs" / marker["run_id"]
    (run_dir / "_SUCCESS").unlink()
    (run_dir / "000003.parquet.tmp").write_bytes(b"PAR1 half a file")
    cut = out / marker["files"][0]["path"]
    cut.write_bytes(cut.read_bytes()[:100])
    with pytest.raises(duckdb.Error):
        read_lake(out)
    (again,) = lake.export(dbs["first"], out).written
    assert (again["rows"], again["files"]) == (marker["rows"], marker["files"])
    assert sorted(p.name for p in run_dir.iterdir()) == ["_SUCCESS"]
    (got,) = by_pair(*read_lake(out)).values()
    assert got == lens_rows(dbs["first"])[1]


def test_a_write_failing_midway_leaves_no_marker_and_the_next_export_finishes(dbs, tmp_path):
    out = tmp_path / "lake"
    reference = tmp_path / "reference"
    (marker,) = lake.export(dbs["first"], reference).written
    # A file where the run's last day folder goes: the files before it are placed, then it fails.
    blocker = out / marker["files"][-1]["path"]
    blocker.parent.parent.mkdir(parents=True)
    blocker.parent.write_text("in the way")
    with pytest.raises(LakeError, match=rf"could not write run {marker['run_id']} there: .* export again"):
        lake.export(dbs["first"], out)
    assert not (out / "_runs" / marker["run_id"] / "_SUCCESS").exists()
    assert (out / marker["files"][0]["path"]).is_file()  # a partial run on disk
    blocker.parent.unlink()
    (again,) = lake.export(dbs["first"], out).written
    assert again["files"] == marker["files"]
    assert read_lake(out) == read_lake(reference)


def unfinished(db: Path, tmp_path: Path, run_id: str = "20250101T000000Z-abcdef") -> Path:
    """A copy of ``db`` with a run that has not finished."""
    copy = Path(shutil.copy(db, tmp_path / "running.duckdb"))
    con = duckdb.connect(str(copy))
    con.execute("INSERT INTO runs (run_id, started_at, status, author_version, reader_version) "
                "VALUES (?, now(), 'running', 'a', 'b')", [run_id])
    con.close()
    return copy


def test_an_unfinished_run_waits_for_a_later_export(dbs, tmp_path):
    summary = lake.export(unfinished(dbs["first"], tmp_path), tmp_path / "lake")
    assert (len(summary.written), summary.running) == (1, 1)
    assert "1 run(s) still running or interrupted, not exported" in str(summary)


@pytest.mark.parametrize("case, match", [
    ("missing", r"missing\.duckdb does not exist: score a corpus first"),
    ("empty", r"empty\.duckdb: nothing scored yet, so nothing to export; score a corpus first"),
    ("only running", r"no finished scoring run to export \(1 still running or interrupted\); finish it"),
    ("not ours", r"foreign\.duckdb: not an echoroom database"),
    ("out is a file", r"--out .*taken: a file, not a folder; point --out at a new folder or an existing lake"),
    ("out is someone's", r"--out .*notes: holds todo\.txt, which no lake holds; .*nothing was written"),
])
def test_errors_say_what_to_fix(dbs, tmp_path, case, match):
    db, out = dbs["first"], tmp_path / "lake"
    if case == "missing":
        db = tmp_path / "missing.duckdb"
    elif case == "empty":
        db = F.empty_db(tmp_path)
    elif case == "only running":
        db = unfinished(F.empty_db(tmp_path), tmp_path)
    elif case == "not ours":
        db = tmp_path / "foreign.duckdb"
        duckdb.connect(str(db)).execute("CREATE TABLE people (name VARCHAR)").close()
    elif case == "out is a file":
        out = tmp_path / "taken"
        out.write_text("")
    else:
        out = tmp_path / "notes"
        out.mkdir()
        (out / "todo.txt").write_text("")
    with pytest.raises((LakeError, store.StoreError, FileNotFoundError), match=match):
        lake.export(db, out)
    assert not (tmp_path / "lake").exists()  # refused before anything was written


def test_one_export_at_a_time_per_lake(dbs, tmp_path):
    out = tmp_path / "lake"
    (out / "_runs").mkdir(parents=True)
    other = FileLock(out / "_runs" / ".lock")  # what a second `echoroom export` into it holds
    other.acquire(timeout=0)
    try:
        with pytest.raises(LakeError, match=r"--out .*lake: another export is writing to it; run again once"):
            lake.export(dbs["first"], out)
    finally:
        other.release()
    assert len(lake.export(dbs["first"], out).written) == 1


def test_a_run_id_that_cannot_name_a_folder_is_refused(dbs, tmp_path):
    db = unfinished(dbs["first"], tmp_path, run_id="../escape")
    con = duckdb.connect(str(db))
    con.execute("UPDATE runs SET status = 'finished', finished_at = now() WHERE run_id = '../escape'")
    con.close()
    with pytest.raises(LakeError, match=r"run '\.\./escape' has run_id '\.\./escape', which cannot name a folder"):
        lake.export(db, tmp_path / "lake")


def test_the_command_exports_and_reports_errors(dbs, tmp_path, capsys):
    out = tmp_path / "lake"
    assert cli.main(["export", "--db", str(dbs["second"]), "--out", str(out)]) == 0
    assert f"exported 2 run(s): {len(lens_rows(dbs['second'])[1])} row(s) in" in capsys.readouterr().out
    assert cli.main(["export", "--db", str(tmp_path / "nope.duckdb"), "--out", str(out)]) == 2
    assert "error: " in capsys.readouterr().err


def test_export_stays_light_and_out_of_the_query_list():
    """`echoroom --help` and `echoroom export --help` import no torch; export's statements are not
    report queries."""
    code = ("import sys\nfrom echoroom import cli\nfor argv in (['--help'], ['export', '--help']):\n    try:\n"
            "        cli.main(argv)\n    except SystemExit:\n        pass\nprint('TORCH', 'torch' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "(docs/lake.md)" in shown and "--out DIR" in shown and "TORCH False" in shown
    assert not [name for name in catalog.saved() if name.startswith("export_")]
    assert {p.stem for p in store.QUERIES_DIR.glob("export_*.sql")} == {"export_runs", "export_pair", "export_rows"}
