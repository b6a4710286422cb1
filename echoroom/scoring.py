"""The one scoring path: corpus units -> both lenses -> Parquet shards -> DuckDB, exactly once.

Used by ``jobs/score.py`` (and so ``echoroom score``), the benchmark and the tests.

Speed comes from doing less work, not from tricks per call: each distinct text of a unit is
scored once; texts are tokenized once for both lenses; lenses that share an adapter share one
encoder pass (``LensSet``); batches are sorted by length and filled to a token budget, so
padding is small. The default budget (1024 padded tokens) is sized for CPU caches: on 2 cores it
scores ~45% more messages/s than 8192 (docs/scoring.md); on a GPU raise it (e.g. 16384).

Exactly once: a run is keyed by its lens versions, its input files (path, size, mtime) and the
unit size. Each process writes one shard per unit it owns (unit i belongs to rank i % world),
to a temporary name and then renames it, so a shard on disk is complete. A re-run of the same
command skips the units whose shards exist. When every process is done, the main process
loads all shards into DuckDB in one transaction that also marks the run finished; rows already
there (same message and lens version) are left alone, so loading twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

# oneDNN caches a compiled kernel for every (batch, length) shape it meets and never evicts below
# its capacity, so peak memory grows with the corpus (+200 MiB from 20k to 200k messages, measured
# with bench/bench_score.py --memory). Without the cache memory stays flat for ~11% of speed.
# It must be set before the process's first matrix product; a value set by the user wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")

import numpy as np  # noqa: E402
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from echoroom import corpus as corpus_mod
from echoroom import store
from echoroom.corpus import Corpus, CorpusError, Unit
from echoroom.labels import LABELS, NUM_LABELS
from echoroom.model import LensSet

LENSES = ("author", "reader")
PROBS_TYPE = pa.list_(pa.float32(), NUM_LABELS)


class Scorer:
    """Both lenses over a list of texts: tokenize once, dedupe, length-sorted token-budget batches."""

    def __init__(self, lenses: LensSet, batch_tokens: int = 1024, max_batch: int = 256,
                 quantize: bool = False):
        self.lenses = lenses
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.quantize = quantize
        if quantize:
            # int8 weights for the encoder's Linear layers, activations quantized per batch on the
            # fly (PyTorch dynamic quantization); the heads stay fp32, they cost nothing.
            import warnings
            with warnings.catch_warnings():
                # torch 2.13 announces a move of this API to torchao; it still works and torchao
                # is not installed here. Revisit when torch drops it.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                for model in lenses.models:
                    model.encoder = torch.ao.quantization.quantize_dynamic(
                        model.encoder, {torch.nn.Linear}, dtype=torch.qint8)
        self.pad_id = lenses.tokenizer.pad_token_id

    @property
    def versions(self) -> dict[str, str]:
        """Lens versions as stored: int8 predictions are not the fp32 model's, so they are kept apart."""
        suffix = "+int8" if self.quantize else ""
        return {n: v + suffix for n, v in self.lenses.versions.items()}

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids cut to the model limit, and whether each text had to be cut."""
        limit = self.lenses.max_length
        # One token over the limit tells us a text was cut; cutting it back and re-appending the
        # final [SEP] gives exactly what truncation at the limit gives.
        ids = self.lenses.tokenizer(texts, truncation=True, max_length=limit + 1,
                                    return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        cut = np.array([len(x) > limit for x in ids], dtype=bool)
        ids = [x[:limit - 1] + x[-1:] if len(x) > limit else x for x in ids]
        return ids, cut

    def batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Index batches in ascending length, each at most batch_tokens padded tokens."""
        order = np.argsort(lengths, kind="stable")
        out, start = [], 0
        while start < len(order):
            end = start + 1
            while (end < len(order) and end - start < self.max_batch
                   and (end - start + 1) * lengths[order[end]] <= self.batch_tokens):
                end += 1
            out.append(order[start:end])
            start = end
        return out

    def score(self, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """({lens: probs (n, 10)}, tokens read (n,), truncated (n,)) for every text, duplicates included."""
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
        unique = list(unique)
        probs = {n: np.zeros((len(unique), NUM_LABELS), np.float32) for n in self.lenses.names}
        ids, cut = self.tokenize(unique) if unique else ([], np.zeros(0, bool))
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        # All token ids in one flat array: each padded batch is then one gather, no Python per row.
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(ids) else lengths
        for idx in self.batches(lengths):
            width = int(lengths[idx].max())
            valid = np.arange(width) < lengths[idx, None]
            pos = np.where(valid, starts[idx, None] + np.arange(width), 0)
            input_ids = torch.from_numpy(np.where(valid, flat[pos], self.pad_id))
            mask = torch.from_numpy(valid.astype(np.int64))
            for name, p in self.lenses.probabilities(input_ids, mask).items():
                probs[name][idx] = p.float().cpu().numpy()
        inverse = np.asarray(inverse, dtype=np.int64)
        return ({n: p[inverse] for n, p in probs.items()}, lengths[inverse], cut[inverse])


def predict_table(scorer: Scorer, table: pa.Table) -> pa.Table:
    """A canonical message table plus status, truncation and each lens's predictions."""
    texts = table.column("text").to_pylist()
    reasons = [("null text" if t is None else "empty text" if not t.strip() else None) for t in texts]
    keep = [i for i, r in enumerate(reasons) if r is None]
    probs, n_tokens, cut = scorer.score([texts[i] for i in keep])
    n = table.num_rows
    cols = {
        "status": pa.array(["skipped" if r else "scored" for r in reasons], pa.string()),
        "skip_reason": pa.array(reasons, pa.string()),
    }
    full_cut = np.zeros(n, bool)
    full_cut[keep] = cut
    tokens = [None] * n
    for j, i in enumerate(keep):
        tokens[i] = int(n_tokens[j])
    cols["truncated"] = pa.array(full_cut)
    cols["n_tokens"] = pa.array(tokens, pa.int32())
    for name in LENSES:
        p = probs[name]
        top = p.argmax(1) if len(p) else np.zeros(0, np.int64)
        sets = scorer.lenses.label_sets(name, p)
        emo, conf, vec, lab = [None] * n, [None] * n, [None] * n, [None] * n
        for j, i in enumerate(keep):
            emo[i], conf[i], vec[i], lab[i] = LABELS[top[j]], float(p[j, top[j]]), p[j].tolist(), sets[j]
        cols[f"{name}_emotion"] = pa.array(emo, pa.string())
        cols[f"{name}_confidence"] = pa.array(conf, pa.float32())
        cols[f"{name}_probs"] = pa.array(vec, PROBS_TYPE)
        cols[f"{name}_labels"] = pa.array(lab, pa.list_(pa.string()))
    for key, col in cols.items():
        table = table.append_column(key, col)
    return table


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a temporary name in the same folder, flush to disk, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --- a run --------------------------------------------------------------------------------

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


def run_key(versions: dict[str, str], corpus: Corpus, columns: dict[str, str], chunk_rows: int) -> str:
    blob = json.dumps({"versions": versions, "files": [f.identity() for f in corpus.files],
                       "columns": columns, "chunk_rows": chunk_rows}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan_run(settings, state, scorer: Scorer, db: Path, work: Path, settings_json: str) -> Plan:
    """Main process only: check the corpus, then open or resume the run (the first write)."""
    columns = corpus_mod.parse_columns(settings.columns)
    corpus = corpus_mod.inspect(settings.input_list(), columns)
    versions = scorer.versions
    run_dir = work / run_key(versions, corpus, columns, settings.chunk_rows)
    meta_path = run_dir / "run.json"
    con = store.connect(db)
    try:
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
            meta_path.write_text(json.dumps({"run_id": run_id}) + "\n")
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
                    "info": json.dumps({**info.__dict__, "quantized": scorer.quantize}),
                    "metrics": metrics.read_text() if metrics.is_file() else None})
    finally:
        con.close()
    units = corpus.units(settings.chunk_rows)
    todo = [u for u in units if not (run_dir / f"{u.name}.parquet").is_file()]
    already = pq.read_metadata(run_dir / "done.parquet").num_rows
    corpus.ids = pa.array([], pa.string())  # not needed past this point; keep the broadcast small
    return Plan(run_id, str(run_dir), corpus, settings.chunk_rows, todo, len(units), already)


def score_units(plan: Plan, scorer: Scorer, rank: int, world: int, progress: bool) -> int:
    """Score this process's share of the units still to do; returns messages written."""
    from tqdm import tqdm
    run_dir = Path(plan.run_dir)
    done = pq.read_table(run_dir / "done.parquet").column("message_id").combine_chunks()
    mine = [u for i, u in enumerate(plan.todo) if i % world == rank]
    total = sum(u.rows for u in mine)
    bar = tqdm(total=total, unit="msg", unit_scale=True, disable=not progress, dynamic_ncols=True,
               desc=f"scoring (rank {rank} of {world})" if world > 1 else "scoring")
    written = 0
    import pyarrow.compute as pc
    for unit, table in corpus_mod.read_units(plan.corpus, mine, plan.chunk_rows):
        if len(done):
            table = table.filter(pc.invert(pc.is_in(table.column("message_id"), value_set=done)))
        write_atomic(predict_table(scorer, table), run_dir / f"{unit.name}.parquet")
        written += table.num_rows
        bar.update(unit.rows)
    bar.close()
    return written


def load_run(plan: Plan, db: Path, versions: dict[str, str], seconds: float, keep_shards: bool) -> dict:
    """Main process only, after every process finished: shards -> DuckDB in one transaction."""
    run_dir = Path(plan.run_dir)
    shards = sorted(str(p) for p in run_dir.glob("part-*.parquet"))
    if len(shards) != plan.units:
        raise RuntimeError(f"{run_dir}: {len(shards)} shards for {plan.units} units; a process did not "
                           "finish its share. Run the same command again to complete the run.")
    params = {"files": shards, "run_id": plan.run_id}
    con = store.connect(db)
    try:
        # Every shard row carries its message id: check the whole set before loading it.
        bad = store.query(con, "shard_duplicates", {"files": shards}).fetchall()
        if bad:
            raise RuntimeError(f"{run_dir}: message ids in more than one shard, e.g. {bad[:3]}; "
                               "delete that folder and run again")
        counts = dict(zip(("rows", "scored", "skipped", "truncated"),
                          store.query(con, "shard_counts", {"files": shards}).fetchall()[0]))
        counts = {k: int(v or 0) for k, v in counts.items()}
        expected = plan.corpus.rows - plan.already
        if counts["rows"] != expected:
            raise RuntimeError(f"{run_dir}: shards hold {counts['rows']} messages, expected {expected}; "
                               "delete that folder and run again")
        counts.update(messages=plan.corpus.rows, already_scored=plan.already)
        con.begin()
        store.query(con, "insert_messages", params)
        before = con.execute("SELECT count(*) FROM predictions").fetchone()[0]
        store.query(con, "insert_predictions", {**params, "author_version": versions["author"],
                                                "reader_version": versions["reader"]})
        counts["inserted"] = con.execute("SELECT count(*) FROM predictions").fetchone()[0] - before
        store.query(con, "finish_run", {"run_id": plan.run_id, "finished_at": datetime.now(timezone.utc),
                                        "counts": json.dumps(counts), "seconds": seconds})
        con.commit()
    except BaseException:
        if con is not None:
            try:
                con.rollback()
            except Exception:
                pass
        raise
    finally:
        con.close()
    if not keep_shards:
        shutil.rmtree(run_dir, ignore_errors=True)
    return counts


def run(settings, state, settings_json: str = "{}") -> dict | None:
    """Score ``settings.inputs`` into ``settings.db`` with every process of ``state``.

    Returns the run's counts on the main process (None elsewhere).
    """
    from accelerate.utils import broadcast_object_list

    t0 = time.perf_counter()
    db = Path(settings.db)
    work = Path(settings.work_dir) if settings.work_dir else db.with_name(db.name + ".work")
    lenses = LensSet(settings.lens_folders(), device=str(state.device))
    scorer = Scorer(lenses, settings.batch_tokens, settings.max_batch, settings.quantize)
    box: list = [None]
    if state.is_main_process:
        try:
            box[0] = plan_run(settings, state, scorer, db, work, settings_json)
        except CorpusError as exc:
            box[0] = exc
    if state.num_processes > 1:
        broadcast_object_list(box, from_process=0)
    if isinstance(box[0], CorpusError):
        raise box[0]
    plan: Plan = box[0]
    if state.is_main_process:
        print(f"run {plan.run_id}: {plan.corpus.rows} messages in {len(plan.corpus.files)} files, "
              f"{plan.already} already scored by these lens versions; {len(plan.todo)} of {plan.units} "
              f"units to do on {state.num_processes} process(es)", flush=True)
    score_units(plan, scorer, state.process_index, state.num_processes,
                settings.progress and state.is_local_main_process)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    seconds = time.perf_counter() - t0
    counts = load_run(plan, db, scorer.versions, seconds, settings.keep_shards)
    rate = counts["scored"] / seconds if seconds else 0.0
    print(f"run {plan.run_id} finished in {seconds:.1f} s: {counts['scored']} scored "
          f"({rate:.0f} msg/s), {counts['skipped']} skipped, {counts['truncated']} truncated, "
          f"{counts['already_scored']} already scored; {counts['inserted']} prediction rows added to {db}",
          flush=True)
    return counts
