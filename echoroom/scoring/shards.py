"""Scoring's work folder: the shards a run writes, their check and their load into DuckDB in one
transaction, the clean-up of runs that can never resume, and how the main process waits for the
shards of the others.

A run's folder is ``DB.work/<run key>/`` (``echoroom.scoring.run``): a shard per unit, written to a
temporary name and renamed, so a shard on disk is complete. The key names the corpus files as they
were (path, size, mtime): when a file changes under an interrupted run, that run's key is never
made again, so its folder and its ``running`` row would stay forever; ``drop_stale`` removes them.

Waiting for the other processes: the main process loads the run once every unit's shard is on
disk (``wait_for_shares``), watching the others' heartbeats while it waits (``guard``, "Signs of
life"); one that stopped before writing its share stops the run with ``PeerLost``, its work kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from echoroom import store
from echoroom.scoring import language
from echoroom.scoring.corpus import Corpus, CorpusError, Unit, parse_columns
from echoroom.scoring.guard import LOST_AFTER, PeerLost, Pulse

LOAD_ROWS = 4096  # shard rows per INSERT statement of the load (at least one shard)
# DuckDB's buffer pool during the load. Unbounded, it keeps every block the load reads or writes
# (up to 80% of RAM), so the load's peak grew with the database: at 200k messages 269 MiB for the
# load alone, 195 MiB under 128MB (docs/scoring.md, "Memory"). What one transaction must hold
# (the new keys' index entries until the commit) does grow with the messages loaded: 200k needed
# up to 128MB, 400k up to 256MB, 1M up to 512MB (measured), so the limit is the larger of
# LOAD_MEMORY and LOAD_BYTES_PER_MESSAGE per message. A load that still needs more fails, is
# rolled back and runs again unbounded (``load_run``).
LOAD_MEMORY = 128 * 2**20
LOAD_BYTES_PER_MESSAGE = 512
# How DuckDB words a commit that ran out of its memory limit (DuckDB 1.1-2.0).
_NO_MEMORY = re.compile(r"(could not|failed to) allocate|failed to pin|out of memory", re.IGNORECASE)


@dataclass
class Plan:
    """What the main process decided, broadcast to every process."""
    run_id: str
    run_dir: str
    corpus: Corpus
    chunk_rows: int
    todo: list[Unit] = field(default_factory=list)   # units whose shard is not on disk yet
    units: int = 0
    already: int = 0   # corpus messages both lenses had already scored before this run


def plan_settings(settings, versions: dict[str, str], precision: str) -> dict:
    """The settings that, with the corpus files, make the run key and so the plan: every process of
    a launch, on every node, must have the same (``disagreement``). Written into the run's run.json.
    ``precision`` is the resolved one: "auto" can become bf16 on one node and fp32 on another."""
    try:
        columns = parse_columns(settings.columns)
    except CorpusError:
        columns = settings.columns  # the main process names the mistake when it reads the corpus
    return {"lens versions": versions, "precision": precision, "chunk_rows": settings.chunk_rows,
            "languages": list(settings.language_list()), "columns": columns}


def disagreement(each: list[dict]) -> str | None:
    """``each``: every process's ``{"host", "settings": plan_settings(...)}``, by rank. What a process
    has that the main one (rank 0, which plans) does not, naming the setting; None when all agree.
    Every process computes the same answer from the same list, so all of them stop together."""
    main, differ = each[0], []
    for rank, mine in enumerate(each[1:], 1):
        differ += [f"{key}={mine['settings'][key]!r} on rank {rank} ({mine['host']}) but "
                   f"{key}={main['settings'][key]!r} on the main process (rank 0, {main['host']})"
                   for key in main["settings"] if mine["settings"][key] != main["settings"][key]]
    if not differ:
        return None
    return ("the processes of this launch disagree on settings that change the run's plan: " + "; ".join(differ)
            + ". Launch every node with the same settings and the same lenses; nothing was written.")


def share(plan: Plan, rank: int, world: int) -> list[Unit]:
    """The units still to do that belong to ``rank``: every ``world``-th, from the ``rank``-th."""
    return plan.todo[rank::world]


def unseen_run_folder(plan: Plan, rank: int, host: str) -> str | None:
    """Why this process cannot take part in ``plan`` (its run folder is not visible here), else None."""
    if (Path(plan.run_dir) / "run.json").is_file():
        return None
    return (f"rank {rank} ({host}) cannot see the run folder {plan.run_dir} that the main process made: every "
            "node needs the database's work folder (DB.work/, or --work_dir) on a filesystem they all share")


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a temporary name in the same folder, flush to disk, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def shard_counts(con, shards: list[str], run_dir: Path, plan: Plan) -> dict:
    """Check the shards (each message id once, the expected count) and count what they hold."""
    counts = {"rows": 0, "scored": 0, "skipped": 0, "truncated": 0, "skipped_language": {}}
    if shards:
        # Every shard row carries its message id: check the whole set before loading it.
        bad = store.query(con, "shard_duplicates", {"files": shards}).fetchall()
        if bad:
            raise RuntimeError(f"{run_dir}: message ids in more than one shard, e.g. {bad[:3]}; "
                               "delete that folder and run again")
        got = store.query(con, "shard_counts", {"files": shards}).fetchall()[0]
        counts.update({k: int(v or 0) for k, v in zip(("rows", "scored", "skipped", "truncated"), got)})
        # Messages left out for their language, by language: {"de": 9, "es": 3}.
        counts["skipped_language"] = {
            reason.removeprefix(language.REASON): int(n)
            for reason, n in store.query(con, "shard_skips", {"files": shards}).fetchall()
            if reason.startswith(language.REASON)}
    expected = plan.corpus.rows - plan.already
    if counts["rows"] != expected:
        raise RuntimeError(f"{run_dir}: shards hold {counts['rows']} messages, expected {expected}; "
                           "delete that folder and run again")
    counts.update(messages=plan.corpus.rows, already_scored=plan.already)
    return counts


def load_run(plan: Plan, db: Path, versions: dict[str, str], seconds: float, keep_shards: bool) -> dict:
    """Main process only, after every process finished: shards -> DuckDB in one transaction."""
    run_dir = Path(plan.run_dir)
    shards = sorted(str(p) for p in run_dir.glob("part-*.parquet"))
    if len(shards) != plan.units:
        raise RuntimeError(f"{run_dir}: {len(shards)} shards for {plan.units} units; a process did not "
                           "finish its share. Run the same command again to complete the run.")
    checked: dict = {}  # the shards' checks and counts, read once even when the load runs twice
    limit = load_memory(plan.corpus.rows)
    try:
        counts = load_shards(plan, db, versions, seconds, shards, f"{limit // 2**20}MB", checked)
    except duckdb.Error as exc:  # rolled back, nothing stored: the same load, unbounded
        if not out_of_memory(exc):
            raise
        print(f"the load needed more than {limit // 2**20}MB of DuckDB memory at once; loading again "
              "without that limit", flush=True)
        counts = load_shards(plan, db, versions, seconds, shards, None, checked)
    if not keep_shards:
        shutil.rmtree(run_dir, ignore_errors=True)
    return counts


def load_memory(messages: int) -> int:
    """Bytes of DuckDB memory the load of ``messages`` messages runs under."""
    return max(LOAD_MEMORY, LOAD_BYTES_PER_MESSAGE * messages)


def out_of_memory(exc: duckdb.Error) -> bool:
    """Whether the load failed for want of memory: while inserting (OutOfMemoryException) or while
    committing, which DuckDB reports as a failed commit that invalidates the connection's database
    (a TransactionException or FatalException; the file keeps what it had: tests/test_failures_size.py)."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        return True
    failed_commit = isinstance(exc, (duckdb.TransactionException, duckdb.FatalException))
    return failed_commit and _NO_MEMORY.search(str(exc)) is not None


def load_shards(plan: Plan, db: Path, versions: dict[str, str], seconds: float, shards: list[str],
                memory_limit: str | None, checked: dict) -> dict:
    """One try at the load: ``checked`` holds ``shard_counts`` once a try has computed them."""
    con = store.connect(db, memory_limit=memory_limit)
    try:
        if not checked:
            checked.update(shard_counts(con, shards, Path(plan.run_dir), plan))
        counts = dict(checked)
        con.begin()
        before = con.execute("SELECT count(*) FROM predictions").fetchone()[0]
        # In slices of one transaction: an INSERT ... ON CONFLICT over every shard at once peaked
        # 30-60 MiB higher at 200k messages than slices of a few shards (docs/scoring.md, "Memory").
        # None for an empty corpus (0 rows): the run finishes with zero counts.
        step = max(1, LOAD_ROWS // plan.chunk_rows)
        for i in range(0, len(shards), step):
            params = {"files": shards[i:i + step], "run_id": plan.run_id}
            store.query(con, "insert_messages", params)
            store.query(con, "insert_predictions", {**params, "author_version": versions["author"],
                                                    "reader_version": versions["reader"]})
        counts["inserted"] = con.execute("SELECT count(*) FROM predictions").fetchone()[0] - before
        store.query(con, "finish_run", {"run_id": plan.run_id, "finished_at": datetime.now(timezone.utc),
                                        "counts": json.dumps(counts), "seconds": seconds})
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except Exception:
            pass  # nothing begun yet (a check failed first): the original error is the one to see
        raise
    finally:
        con.close()
    return counts


def drop_stale(con, work: Path, keep: Path, files: list[dict]) -> list[str]:
    """Forget the runs left ``running`` on an earlier version of one of ``files`` (``identity()``
    dicts), and delete their shard folders under ``work`` (never ``keep``, this run's); their ids."""
    stale = [r[0] for r in store.query(con, "stale_runs", {"files": json.dumps(files)}).fetchall()]
    if not stale:
        return []
    folders = {}
    for meta in work.glob("*/run.json"):
        try:
            folders[json.loads(meta.read_text())["run_id"]] = meta.parent
        except (OSError, ValueError, KeyError):
            continue  # not a run folder we can read: left alone
    for run_id in stale:
        store.query(con, "delete_run", {"run_id": run_id})
        folder = folders.get(run_id)
        if folder is not None and folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
    return stale


def wait_for_shares(plan: Plan, world: int, hosts: list[str], lost_after: float = LOST_AFTER,
                    poll: float = 0.5) -> None:
    """Main process, its own share done: return once every other process's shards are on disk;
    ``PeerLost`` naming the first process that stopped before writing its share."""
    run_dir, start = Path(plan.run_dir), time.monotonic()
    owed = {rank: [u.name for u in share(plan, rank, world)] for rank in range(1, world)}
    pulses = {rank: Pulse(run_dir, rank, start) for rank in owed}
    while True:
        # Each process's state before its shards: one that wrote its last shard and then exited
        # between the two looks would otherwise be taken as gone with its work done.
        now = time.monotonic()
        problems = {rank: pulses[rank].problem(now, lost_after) for rank in owed}
        owed = {rank: [n for n in names if not (run_dir / f"{n}.parquet").is_file()] for rank, names in owed.items()}
        owed = {rank: names for rank, names in owed.items() if names}
        if not owed:
            return
        lost = next((rank for rank in owed if problems[rank]), None)
        if lost is not None:
            written = len(list(run_dir.glob("part-*.parquet")))
            raise PeerLost(
                f"rank {lost} ({hosts[lost]}) stopped before writing its share of run {plan.run_id}: "
                f"{problems[lost]}; {len(owed[lost])} of its {len(share(plan, lost, world))} units have no shard. "
                f"The {written} shards written so far are kept in {run_dir}: run the same command again, "
                "on any number of processes or nodes, to score the rest and load the run.")
        time.sleep(poll)
