"""The one scoring path: corpus units -> both lenses -> Parquet shards -> DuckDB, exactly once.

Used by ``jobs/score.py`` (and so ``echoroom score``), the benchmark and the tests.

Speed comes from doing less work, not from tricks per call: each distinct text of a unit is
scored once; texts are tokenized once for both lenses; lenses that share an adapter share one
encoder pass (``LensSet``); batches are sorted by length and filled to a token budget, so
padding is small. The default budget (1024 padded tokens) is sized for CPU caches: on 2 cores it
scores ~45% more messages/s than 8192 (docs/scoring.md); on a GPU raise it (e.g. 16384).

Exactly once: a run is keyed by its lens versions, its input files (path, size, mtime), the
unit size and the lenses' languages (which messages are left out). Each process writes one shard
per unit it owns (unit i belongs to rank i % world), to a temporary name and then renames it, so
a shard on disk is complete. A re-run of the same command skips the units whose shards exist.
When every process is done, the main process loads all shards into DuckDB in one transaction
that also marks the run finished; rows already there (same message and lens version) are left
alone, so loading twice changes nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import hashlib
import json
import os
import shutil
import socket
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from echoroom import store
from echoroom.lenses.model import LensSet
from echoroom.scoring import corpus as corpus_mod
from echoroom.scoring import guard, language, shards
from echoroom.scoring.corpus import Corpus, CorpusError
from echoroom.scoring.scorer import Scorer, predict_table
from echoroom.scoring.shards import Plan, drop_stale, load_run, plan_settings, write_atomic


def run_key(versions: dict[str, str], corpus: Corpus, columns: dict[str, str], chunk_rows: int,
            languages: tuple[str, ...]) -> str:
    # The lenses' languages decide which messages are skipped: a resumed run must not mix two choices.
    blob = json.dumps({"versions": versions, "files": [f.identity() for f in corpus.files],
                       "columns": columns, "chunk_rows": chunk_rows, "languages": languages}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan_run(settings, state, scorer: Scorer, db: Path, work: Path, settings_json: str) -> Plan:
    """Main process only: check the corpus, then open or resume the run (the first write)."""
    columns = corpus_mod.parse_columns(settings.columns)
    corpus = corpus_mod.inspect(settings.input_list(), columns, exclude=(db, work))
    versions = scorer.versions
    run_dir = work / run_key(versions, corpus, columns, settings.chunk_rows, settings.language_list())
    meta_path = run_dir / "run.json"
    con = store.connect(db)
    try:
        stale = drop_stale(con, work, run_dir, [f.identity() for f in corpus.files])
        if stale:
            print(f"dropped {len(stale)} unfinished run(s) of an earlier version of these corpus files, with "
                  f"their shards: {', '.join(stale)}", flush=True)
        run_id = None
        if meta_path.is_file():
            old = json.loads(meta_path.read_text())["run_id"]
            found = store.query(con, "run_status", {"run_id": old}).fetchall()
            if found and found[0][0] == "running":
                run_id = old  # resume: its shards on disk are still to be loaded
            else:
                shutil.rmtree(run_dir)  # loaded already; only the clean-up was interrupted
        con.register("corpus_ids", pa.table({"message_id": corpus.ids}))
        rows = store.query(con, "scored_ids", {"author_version": versions["author"],
                                                 "reader_version": versions["reader"]}).fetchall()
        done = pa.table({"message_id": pa.array([r[0] for r in rows], pa.string())})
        con.unregister("corpus_ids")
        if run_id is None:
            run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
            run_dir.mkdir(parents=True, exist_ok=True)
            pq.write_table(done, run_dir / "done.parquet")
            # The plan's settings beside its id: what every node must agree on (shards.disagreement).
            plan = plan_settings(settings, versions, scorer.precision)
            meta_path.write_text(json.dumps({"run_id": run_id, "plan": plan}, sort_keys=True) + "\n")
            store.query(con, "insert_run", {
                "run_id": run_id, "started_at": datetime.now(timezone.utc),
                "author_version": versions["author"], "reader_version": versions["reader"],
                "settings": settings_json, "inputs": json.dumps([f.identity() for f in corpus.files]),
                "processes": state.num_processes})
            for name, info in scorer.lenses.infos.items():
                folder = Path(settings.lens_folders()[name])
                metrics = folder / "metrics.json"
                store.query(con, "insert_lens", {
                    "version": versions[name], "lens": name, "encoder": info.encoder,
                    "info": json.dumps(info.__dict__),
                    "metrics": metrics.read_text() if metrics.is_file() else None})
    finally:
        con.close()
    units = corpus.units(settings.chunk_rows)
    todo = [u for u in units if not (run_dir / f"{u.name}.parquet").is_file()]
    already = pq.read_metadata(run_dir / "done.parquet").num_rows
    corpus.ids = pa.array([], pa.string())  # not needed past this point; keep the broadcast small
    guard.clear_heartbeats(run_dir)  # a killed launch's: before this launch's processes start theirs
    return Plan(run_id, str(run_dir), corpus, settings.chunk_rows, todo, len(units), already)


def score_units(plan: Plan, scorer: Scorer, rank: int, world: int, progress: bool) -> int:
    """Score this process's share of the units still to do; returns messages written."""
    from tqdm import tqdm
    run_dir = Path(plan.run_dir)
    done = pq.read_table(run_dir / "done.parquet").column("message_id").combine_chunks()
    mine = shards.share(plan, rank, world)
    total = sum(u.rows for u in mine)
    # A bar on a terminal; under cron or a pipe, one plain line per unit instead of bar redraws.
    live = progress and sys.stderr.isatty()
    bar = tqdm(total=total, unit="msg", unit_scale=True, disable=not live, dynamic_ncols=True,
               desc=f"scoring (rank {rank} of {world})" if world > 1 else "scoring")
    written, seen, t0 = 0, 0, time.time()
    for k, (unit, table) in enumerate(corpus_mod.read_units(plan.corpus, mine, plan.chunk_rows), 1):
        if len(done):
            table = table.filter(pc.invert(pc.is_in(table.column("message_id"), value_set=done)))
        write_atomic(predict_table(scorer, table), run_dir / f"{unit.name}.parquet")
        trim()  # each unit's freed blocks back to the kernel: else the peak crept up over a run
        written += table.num_rows
        seen += unit.rows
        bar.update(unit.rows)
        if progress and not live:
            rate = seen / max(time.time() - t0, 1e-9)
            print(f"scoring{f' rank {rank}' if world > 1 else ''}: unit {k}/{len(mine)}, {seen}/{total} messages, "
                  f"{rate:.0f} msg/s, about {(total - seen) / max(rate, 1e-9):.0f} s left", flush=True)
    bar.close()
    return written


def release_memory() -> None:
    """Free what only scoring needs and hand it back to the kernel, before the load.

    Scoring's memory is flat, but the load's grows with the run: DuckDB keeps a transaction's rows
    and primary-key indexes in memory until it commits (~270 MiB at 200k messages). It used to pile
    them on top of what scoring no longer needs: the lenses (dropped by the caller), the language
    detector's tables (70 MiB, cached by ``language.identifier``) and the freed blocks glibc keeps in
    its arenas, so peak RSS grew with the corpus (docs/scoring.md, "Memory")."""
    language.identifier.cache_clear()  # the next run in this process loads it again (~1 s)
    gc.collect()
    trim()


def trim() -> None:
    """Hand the blocks glibc keeps in its arenas after frees back to the kernel (a few ms)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except AttributeError:
            pass  # not glibc (musl): it has no malloc_trim


def together(step: str, collective, *args):
    """A collective of the launch (each process waits for all); when one of them has died, gloo's
    error ("Connection closed by peer", or its timeout) becomes ``PeerLost`` saying what to do."""
    try:
        return collective(*args)
    except RuntimeError as exc:  # torch.distributed.DistBackendError is one
        raise guard.PeerLost(f"a process of this launch stopped, or stopped answering, while {step}: {exc} "
                       "Nothing of this launch was scored yet; run the same command again, with every node "
                       "up (or with fewer processes or nodes).") from None


def run(settings, state, settings_json: str = "{}") -> dict | None:
    """Score ``settings.inputs`` into ``settings.db`` with every process of ``state``.

    Returns the run's counts on the main process (None elsewhere).
    """
    from accelerate.utils import broadcast_object_list, gather_object

    t0 = time.perf_counter()
    db = Path(settings.db)
    work = Path(settings.work_dir) if settings.work_dir else db.with_name(db.name + ".work")
    with contextlib.ExitStack() as held:
        # The lock first, before seconds of model loading: a second scorer stops at once. Other
        # processes of a launch whose main process stops here are ended by the launcher.
        writer = held.enter_context(guard.Writer(db)) if state.is_main_process else None
        scorer = Scorer(LensSet(settings.lens_folders(), device=str(state.device)), settings.batch_tokens,
                        settings.max_batch, settings.precision, settings.language_list())
        versions = scorer.versions
        # What "auto" became on this machine: the run's record says which precision produced it.
        settings_json = json.dumps({**json.loads(settings_json), "precision": scorer.precision}, sort_keys=True)
        host, many = socket.gethostname(), state.num_processes > 1
        if many:
            # Before anything is written: a node launched with other settings (or lenses) would
            # score into a plan its units do not match. Every process sees every answer and stops.
            mine = {"host": host, "settings": plan_settings(settings, versions, scorer.precision)}
            each = together("comparing settings", gather_object, [mine])
            hosts = [e["host"] for e in each]
            problem = shards.disagreement(each)
            if problem:
                raise ValueError(problem)
        box: list = [None]
        if state.is_main_process:
            try:
                writer.check()
                with store.storage(db, "write"):
                    box[0] = plan_run(settings, state, scorer, db, work, settings_json)
            except (CorpusError, store.StoreError) as exc:
                box[0] = exc
        if many:
            together("the main process planned the run", broadcast_object_list, box, 0)
        if isinstance(box[0], Exception):
            raise box[0]
        plan: Plan = box[0]
        if many:  # the shards of every node are loaded by the main one: the folder must be shared
            seen = together("checking the run folder", gather_object,
                            [shards.unseen_run_folder(plan, state.process_index, host)])
            unseen = [p for p in seen if p]
            if unseen:
                raise ValueError(unseen[0])
        if state.is_main_process and not plan.units:
            print(f"run {plan.run_id}: nothing to score: 0 messages in {len(plan.corpus.files)} files", flush=True)
        elif state.is_main_process:
            print(f"run {plan.run_id}: {plan.corpus.rows} messages in {len(plan.corpus.files)} files, "
                  f"{plan.already} already scored by these lens versions; {len(plan.todo)} of {plan.units} "
                  f"units to do on {state.num_processes} process(es)", flush=True)
        # The others' heartbeats tell the main process, waiting for their shards, that they still work.
        beat = guard.Heartbeat(plan.run_dir, state.process_index) if many and not state.is_main_process else None
        with store.storage(plan.run_dir, "write shards to"), beat or contextlib.nullcontext():
            score_units(plan, scorer, state.process_index, state.num_processes,
                        settings.progress and state.is_local_main_process)
        if not state.is_main_process:
            return None
        del scorer  # the lenses with it: the load needs neither
        release_memory()
        if many:  # not a barrier: see shards.wait_for_shares
            shards.wait_for_shares(plan, state.num_processes, hosts)
        seconds = time.perf_counter() - t0
        writer.check()
        with store.storage(db, "write"):
            counts = load_run(plan, db, versions, seconds, settings.keep_shards)
    rate = counts["scored"] / seconds if seconds else 0.0
    other = counts["skipped_language"]
    left_out = f" ({sum(other.values())} in other languages: {language.summary(other)})" if other else ""
    print(f"run {plan.run_id} finished in {seconds:.1f} s: {counts['scored']} scored "
          f"({rate:.0f} msg/s), {counts['skipped']} skipped{left_out}, {counts['truncated']} truncated, "
          f"{counts['already_scored']} already scored; {counts['inserted']} prediction rows added to {db}",
          flush=True)
    return counts


def start(settings, program: str = "echoroom score") -> dict | None:
    """Set up this process (device, threads, the process group), check the launch gave
    ``settings.processes`` processes, print the effective settings, and ``run``."""
    import torch
    from accelerate import PartialState

    from echoroom.settings import to_json

    guard.watch_launcher()  # launched by `echoroom run`: end with it (guard's docstring)
    cpu = settings.device == "cpu" or (settings.device == "auto" and not torch.cuda.is_available())
    state = PartialState(cpu=cpu)
    if state.num_processes != settings.processes:
        raise SystemExit(
            f"{program}: the launcher started {state.num_processes} process(es) but --processes="
            f"{settings.processes}. On CPU use `accelerate launch --multi_gpu --num_processes N` "
            "(`--cpu` starts one), or pass --processes to match the launch.")
    local = int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes))
    torch.set_num_threads(settings.threads or max(1, (os.cpu_count() or 1) // local))
    if state.is_main_process:
        # One line: what differs from the defaults. Every setting is stored with the run (runs.settings).
        changed = ", ".join(f"{f.name}={getattr(settings, f.name)!r}" for f in dataclasses.fields(settings)
                            if getattr(settings, f.name) != f.default)
        print(f"{program} on {state.num_processes} process(es), {state.device}, {torch.get_num_threads()} "
              f"thread(s) each; {changed or 'default settings'}", flush=True)
    try:
        return run(settings, state, to_json(settings))
    finally:
        state.destroy_process_group()
