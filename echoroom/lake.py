"""The Parquet lake: the scored messages with both readings (the columns of ``message_lenses``) as
Hive-partitioned Parquet that Spark, Trino and DuckDB read, written one scoring run at a time.

    DIR/lens_version=<author version>+<reader version>/day=YYYY-MM-DD/part-<run_id>.parquet
    DIR/lens_version=.../day=__HIVE_DEFAULT_PARTITION__/part-<run_id>.parquet   (no sent_at)
    DIR/_runs/<run_id>/_SUCCESS                                   (JSON counts, written last)

A run is a finished row of ``runs``; its rows are those of its lens pair that became readable with
it (``queries/export_rows.sql``), so every pair a run ever had keeps its own partition, whichever
pair is current. Incremental and exactly once: a run with a ``_SUCCESS`` marker is never written
again; any other run is written whole. Its files go to ``_runs/<run_id>/`` under temporary names
(no reader lists them), are renamed into their partitions, and the marker is written last. A run
whose ``_runs/<run_id>/`` exists without a marker was cut short: its files, wherever they got to,
are deleted first. One export writes into a lake at a time (``_runs/.lock``). docs/lake.md has the
layout, the semantics and the reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from echoroom import store

RUNS = "_runs"
MARKER = "_SUCCESS"
# The name Hive, Spark and Trino give (and DuckDB reads back as) a NULL partition value.
NULL_DAY = "__HIVE_DEFAULT_PARTITION__"
# Rows per Arrow batch read from DuckDB: what the export holds in memory besides DuckDB's sort.
BATCH_ROWS = 65_536
# Run ids and lens versions name folders: letters, digits and . _ + - only (none that Hive escapes).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class LakeError(ValueError):
    """The export cannot run as asked; one line naming the database or folder and the fix."""


@dataclass(frozen=True)
class Run:
    run_id: str
    author_version: str
    reader_version: str
    finished_at: datetime

    @property
    def lens_version(self) -> str:
        return f"{self.author_version}+{self.reader_version}"


@dataclass
class Summary:
    out: Path
    written: list[dict] = field(default_factory=list)  # the markers written, in order
    already: int = 0  # runs exported before
    running: int = 0  # runs not finished, left for a later export

    def __str__(self) -> str:
        rows = sum(m["rows"] for m in self.written)
        files = sum(len(m["files"]) for m in self.written)
        said = (f"exported {len(self.written)} run(s): {rows} row(s) in {files} file(s) to {self.out}; "
                f"{self.already} run(s) exported before")
        return said + (f"; {self.running} run(s) still running or interrupted, not exported" if self.running else "")


def export(db: str | Path, out: str | Path) -> Summary:
    """Write every finished run of ``db`` that ``out`` does not hold yet; the database is only read."""
    out = Path(out)
    check_out(out)
    con = open_db(Path(db))
    try:
        finished, running = runs(con, Path(db))
        make_out(out)
        summary = Summary(out, running=running)
        with lock(out):
            for run in finished:
                if (out / RUNS / run.run_id / MARKER).is_file():
                    summary.already += 1
                else:
                    summary.written.append(export_safely(con, run, out))
    finally:
        con.close()
    return summary


@contextmanager
def lock(out: Path) -> Iterator[None]:
    """The lake's one-writer lock: two exports into one lake would delete each other's files."""
    held = FileLock(out / RUNS / ".lock")
    try:
        held.acquire(timeout=0)
    except Timeout:
        raise LakeError(f"--out {out}: another export is writing to it; run again once it has finished") from None
    try:
        yield
    finally:
        held.release()


def check_out(out: Path) -> None:
    """``out`` must be a folder that is new, empty or a lake: never a file, never someone's folder."""
    if out.exists() and not out.is_dir():
        raise LakeError(f"--out {out}: a file, not a folder; point --out at a new folder or an existing lake")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name != RUNS and not p.name.startswith(("lens_version=", ".")))
        if foreign:
            raise LakeError(f"--out {out}: holds {', '.join(foreign[:5])}, which no lake holds; point --out at a "
                            "new or empty folder or an existing lake (nothing was written)")


def make_out(out: Path) -> None:
    try:
        (out / RUNS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LakeError(f"--out {out}: cannot create it: {exc.strerror}; check the path and its permissions") from None


def open_db(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one of our databases, in UTC so timestamps and days do not depend
    on the machine's time zone."""
    try:
        con = store.connect(db, read_only=True)  # missing, a folder or not DuckDB: a clear error
    except store.StoreError as exc:
        if "lock" not in str(exc).lower():
            raise
        raise LakeError(f"{db}: another process has it open for writing (a scoring run?); export once it "
                        "has finished") from None
    try:
        store.check_ours(con, db)
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
    except BaseException:
        con.close()
        raise
    return con


def runs(con: duckdb.DuckDBPyConnection, db: Path) -> tuple[list[Run], int]:
    """The finished runs in the order they finished, and how many are not finished."""
    try:
        rows = store.query(con, "export_runs").fetchall()
    except duckdb.CatalogException:
        rows = []  # an empty database: nothing was ever scored into it
    finished = [Run(r[0], r[2], r[3], r[4]) for r in rows if r[1] == "finished"]
    if not rows:
        raise LakeError(f"{db}: nothing scored yet, so nothing to export; score a corpus first "
                        f"(`echoroom score CORPUS.parquet --db {db}`)")
    if not finished:
        raise LakeError(f"{db}: no finished scoring run to export ({len(rows)} still running or interrupted); "
                        "finish it by running the same `echoroom score` command again")
    for run in finished:
        for what, name in (("run_id", run.run_id), ("author_version", run.author_version),
                           ("reader_version", run.reader_version)):
            if not _NAME.fullmatch(name):
                raise LakeError(f"{db}: run {run.run_id!r} has {what} {name!r}, which cannot name a folder "
                                "(letters, digits, . _ + - only); nothing of it was written")
    return finished, len(rows) - len(finished)


def export_safely(con: duckdb.DuckDBPyConnection, run: Run, out: Path) -> dict:
    """``export_run``, with a file that cannot be written said in one line: the run has no marker yet,
    so the next export starts it again from nothing."""
    try:
        return export_run(con, run, out)
    except OSError as exc:
        where = exc.filename or out
        raise LakeError(f"{where}: could not write run {run.run_id} there: {exc.strerror or exc}. Fix it "
                        "(space, permissions, a file where a folder goes) and export again: that run is "
                        "written again from the start, the runs before it are kept") from None


def export_run(con: duckdb.DuckDBPyConnection, run: Run, out: Path) -> dict:
    """Write one run's files and then its marker; returns the marker."""
    staging = out / RUNS / run.run_id
    if staging.exists():
        discard(out, run.run_id)  # an earlier export of this run stopped before its marker
    staging.mkdir(parents=True)  # before any file: its presence is what says "maybe partial"
    store.query(con, "export_pair", {"run_id": run.run_id})
    reader = con.sql(store.load_sql("export_rows"), params={"run_id": run.run_id}).to_arrow_reader(BATCH_ROWS)
    days = write_days(reader, staging)
    files = []
    for day, (tmp, rows) in days.items():
        path = out / f"lens_version={run.lens_version}" / f"day={day}" / f"part-{run.run_id}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
        files.append({"path": path.relative_to(out).as_posix(), "day": day, "rows": rows})
    marker = {"run_id": run.run_id, "author_version": run.author_version, "reader_version": run.reader_version,
              "lens_version": run.lens_version, "finished_at": run.finished_at.isoformat(),
              "exported_at": datetime.now(timezone.utc).isoformat(), "rows": sum(f["rows"] for f in files),
              "files": files}
    write_synced(staging / MARKER, (json.dumps(marker, indent=2) + "\n").encode())
    return marker


def write_days(reader: pa.RecordBatchReader, staging: Path) -> dict[str, tuple[Path, int]]:
    """Write the rows, sorted by day, one temporary file per day in ``staging``, flushed to disk
    before a rename can make them visible: {day: (file, rows)}."""
    schema = reader.schema.remove(reader.schema.get_field_index("day"))
    files: dict[str, list] = {}
    writer, current = None, None
    try:
        for day, rows in day_slices(reader):
            if day != current:
                if day in files:
                    raise RuntimeError(f"export_rows.sql returned day {day} twice apart: it must sort by day")
                if writer is not None:
                    writer.close()
                files[day] = [staging / f"{len(files):06d}.parquet.tmp", 0]
                writer, current = pq.ParquetWriter(files[day][0], schema), day
            writer.write_batch(rows)
            files[day][1] += rows.num_rows
    finally:
        if writer is not None:
            writer.close()
    for path, _ in files.values():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    return {day: (path, n) for day, (path, n) in files.items()}


def day_slices(reader: pa.RecordBatchReader) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The rows, sorted by day, as (the day's folder value, consecutive rows of that day); the day
    leaves the rows, as Hive keeps partition values in the path only."""
    for batch in reader:
        ends = pc.run_end_encode(batch.column("day"))
        start = 0
        for end, value in zip(ends.run_ends.to_pylist(), ends.values.to_pylist()):
            day = NULL_DAY if value is None else value.isoformat()
            yield day, batch.slice(start, end - start).drop_columns(["day"])
            start = end


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name, flush it to disk, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def discard(out: Path, run_id: str) -> None:
    """Delete what an unfinished export of ``run_id`` left: its temporary files and every partition
    file of its name, then the partition folders left empty."""
    shutil.rmtree(out / RUNS / run_id)
    for day in list(out.glob("lens_version=*/day=*")):
        (day / f"part-{run_id}.parquet").unlink(missing_ok=True)
        for folder in (day, day.parent):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
