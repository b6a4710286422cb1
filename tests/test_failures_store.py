"""A `--db` that is not ours, not DuckDB or not writable, and a disk that fills up during the commit:
each one clear line (exit 5 from the scoring job and `echoroom run`), nothing half-written, and the
file we were pointed at left exactly as it was (docs/operations.md, "Failure modes")."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from echoroom import store

from helpers import assert_exactly_once, rows, write_corpus

ROOT = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_duckdb(path: Path) -> Path:
    """Another application's DuckDB file, with tables named like ours in another shape."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE messages (id INTEGER, body VARCHAR); INSERT INTO messages VALUES (1, 'hi')")
    con.execute("CREATE TABLE runs (id INTEGER, host VARCHAR)")
    con.close()
    return path


def score_job(corpus: Path, db: Path, lens_root: Path, *extra: str, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "jobs.score", f"--inputs={corpus}", f"--db={db}",
                           f"--lenses={lens_root}", "--progress=false", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn)


def test_another_applications_duckdb_is_refused_before_anything_is_added(tmp_path):
    db = foreign_duckdb(tmp_path / "theirs.duckdb")
    before = digest(db)
    with pytest.raises(store.StoreError, match=r"theirs.duckdb: not an echoroom database: its table messages has "
                       r"columns \(id, body\), not ours; its table runs has columns \(id, host\), not ours\. "
                       r"Nothing was changed; point --db at a new file name"):
        store.connect(db)
    assert digest(db) == before
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall() == \
        [("messages",), ("runs",)]
    assert con.execute("SELECT count(*) FROM duckdb_functions() WHERE NOT internal").fetchone() == (0,)


def test_a_duckdb_holding_only_other_tables_is_refused(tmp_path):
    db = tmp_path / "other.duckdb"
    duckdb.connect(str(db)).execute("CREATE TABLE invoices (n INTEGER)").close()
    with pytest.raises(store.StoreError, match="not an echoroom database: it holds invoices and none of our tables"):
        store.connect(db)


def test_an_empty_duckdb_and_one_of_ours_are_used(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    store.connect(db).close()
    store.connect(db).close()  # ours now
    assert ("messages",) in rows(db, "SELECT table_name FROM information_schema.tables")


@pytest.mark.parametrize("read_only", [False, True])
def test_a_sqlite_file_is_refused_without_fetching_an_extension(tmp_path, read_only):
    db = tmp_path / "app.db"
    sqlite3.connect(db).execute("CREATE TABLE messages (id INTEGER)").connection.close()
    before = digest(db)
    with pytest.raises(store.StoreError, match=r"app.db: a SQLite database, not DuckDB; point --db at a DuckDB "
                       r"file or a new file name \(nothing was changed\)"):
        store.connect(db, read_only=read_only)
    assert digest(db) == before


def test_a_file_that_is_not_a_database_or_a_folder_is_refused(tmp_path):
    junk = tmp_path / "notes.duckdb"
    junk.write_bytes(b"hello, this is not a database" * 10)
    with pytest.raises(store.StoreError, match=r"notes.duckdb: not a DuckDB database \(a file starting "
                       r"b'hello, t'\)"):
        store.connect(junk)
    with pytest.raises(store.StoreError, match=r"notes.duckdb: not a DuckDB database \(an empty file\)"):
        junk.write_bytes(b"")
        store.connect(junk)
    with pytest.raises(store.StoreError, match=r"a folder, not a DuckDB file; point --db at a file name"):
        store.connect(tmp_path)


def test_a_database_where_no_file_can_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(store.StoreError, match=r"could not open it: Not a directory\. Free space or fix the "
                       r"permissions, then run again"):
        store.connect(tmp_path / "file" / "sub" / "x.duckdb")


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    """A tmpfs of ``size`` mounted at ``folder`` (root only; the test is skipped elsewhere)."""
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs mounts to fill a disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_folder_is_one_line(tmp_path):
    with small_disk(tmp_path / "ro", "1m") as folder:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        with pytest.raises(store.StoreError, match=r"x.duckdb: could not open it: .*Read-only file system"):
            store.connect(folder / "x.duckdb")


def test_a_full_disk_during_the_commit_exits_5_and_the_rerun_finishes_once(tmp_path, lens_root):
    corpus = write_corpus(tmp_path / "c.parquet", 600)
    with small_disk(tmp_path / "disk", "3m") as disk:
        db = disk / "x.duckdb"
        store.connect(db).close()
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * max(0, free - 64 * 1024))  # 64 KiB left: the schema fits, the run does not
        work = f"--work_dir={tmp_path / 'work'}"
        full = score_job(corpus, db, lens_root, work)
        assert full.returncode == 5, full.stderr[-3000:]
        last = full.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {db}: could not write it: ") and "No space left on device" in last, last
        assert "Traceback" not in full.stderr
        assert rows(db, "SELECT count(*) FROM messages") == [(0,)]
        assert rows(db, "SELECT status FROM runs") == [("running",)]

        filler.unlink()
        done = score_job(corpus, db, lens_root, work)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_exactly_once(db, 600)
        assert rows(db, "SELECT status FROM runs") == [("finished",)]


def test_echoroom_run_on_another_applications_database_exits_5(tmp_path, lens_root):
    db = foreign_duckdb(tmp_path / "theirs.duckdb")
    before = digest(db)
    cfg = tmp_path / "echoroom.toml"
    demo = ROOT / "echoroom" / "demo" / "whatsapp_family_chat.txt"
    cfg.write_text(f'database = "theirs.duckdb"\n[[inputs]]\npaths = ["{demo}"]\ncorpus = "c.parquet"\n'
                   'timezone = "Europe/London"\n')
    done = subprocess.run([sys.executable, "-m", "echoroom.cli", "run", "--config", str(cfg)], cwd=tmp_path,
                          env=dict(os.environ, ECHOROOM_LENSES=str(lens_root)), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 5, done.stderr[-3000:]
    assert f"score failed (scoring, exit 5): {db}: not an echoroom database: its table messages" in done.stderr
    assert "Traceback" not in done.stderr
    assert digest(db) == before


def test_an_unfinished_run_on_a_corpus_that_changed_since_is_dropped_with_its_shards(tmp_path, lens_root, capsys):
    from accelerate import PartialState

    from echoroom.lenses import default_lens_folders
    from echoroom.lenses.model import LensSet
    from echoroom.scoring import run as scoring_run
    from echoroom.scoring.scorer import Scorer
    from echoroom.scoring.settings import ScoreSettings
    from jobs import score as job

    corpus, db = write_corpus(tmp_path / "c.parquet", 30), tmp_path / "x.duckdb"
    other = write_corpus(tmp_path / "other" / "o.parquet", 10, start=1000)
    settings = ScoreSettings(inputs=str(corpus), db=str(db), lenses=str(lens_root), chunk_rows=8, progress=False)
    scorer = Scorer(LensSet(default_lens_folders(lens_root)))
    # Two interrupted runs, as a kill leaves them: one on c.parquet, one on another corpus.
    old = scoring_run.plan_run(settings, PartialState(cpu=True), scorer, db, Path(f"{db}.work"), "{}")
    kept = scoring_run.plan_run(ScoreSettings(**{**settings.__dict__, "inputs": str(other)}), PartialState(cpu=True),
                                scorer, db, Path(f"{db}.work"), "{}")
    write_corpus(corpus, 40)  # the export grew: c.parquet is another file now, the old run can never resume

    job.main([f"--inputs={corpus}", f"--db={db}", f"--lenses={lens_root}", "--progress=false", "--chunk_rows=8"])
    assert f"dropped 1 unfinished run(s) of an earlier version of these corpus files, with their shards: " \
           f"{old.run_id}" in capsys.readouterr().out
    assert not Path(old.run_dir).exists() and Path(kept.run_dir).exists()
    assert sorted(rows(db, "SELECT run_id = ?, status FROM runs", [kept.run_id])) == [(False, "finished"),
                                                                                      (True, "running")]
