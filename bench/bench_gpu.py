"""Scoring on a GPU: messages/s of both lenses in bf16 with a large token budget, against fp32 on
the same GPU in the same run, with the predictions check (issue 14).

    python bench/bench_gpu.py --prepare=.gpu/texts.json.gz   # here: real messages and the official
                                                              # test sets as JSON (needs polars, the data)
    python bench/bench_gpu.py --data=.gpu/texts.json.gz [--n=200000] [--budgets=16384,65536,262144]

Messages: distinct real lines (GoEmotions, EmpatheticDialogues turns, DailyDialog utterances), so
the reader's deduplication saves nothing. Rows, each through the one batching path
(``reading.Reader``: text preparation and tokenization on the host, length-sorted batches filled to
the token budget, both lenses' heads, results copied back):

- fp32 at the CPU default budget (1024 tokens), then fp32 and bf16 at each ``--budgets`` value;
- "GPU only": the same batches pre-tokenized and already on the device, synchronized, so the host
  share of the end-to-end time shows.

Check: on GoEmotions test (author, single-label, jobs/evaluate.py's protocol) and
EmpatheticDialogues test (reader), accuracy and macro-F1 in fp32 and bf16, top-1 agreement and
agreement of the ``shifted`` flag (shift_score >= the default threshold) between the two.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from echoroom.labels import LABEL2ID, LABELS  # noqa: E402
from echoroom.lenses import default_lens_folders, shift  # noqa: E402
from echoroom.lenses.metrics import accuracy, macro_f1  # noqa: E402
from echoroom.lenses.model import LensSet  # noqa: E402
from echoroom.lenses.reading import Reader  # noqa: E402


def prepare(path: Path) -> None:
    """The messages and test sets as JSON; read with polars here, so the GPU machine needs neither."""
    import polars as pl

    from echoroom.lenses import data as D

    pool = []
    for split in ("train", "dev", "test"):
        pool += pl.read_parquet(D.data_dir() / "goemotions" / f"{D.GOEMOTIONS_SPLITS[split]}.parquet")["text"].to_list()
        pool += D.empathetic(split, text="speaker_turns")["text"].to_list()
    pool += D.dailydialog("train")["text"].to_list() + D.dailydialog("validation")["text"].to_list()
    pool = list(dict.fromkeys(t for t in pool if t and t.strip()))
    ge = D.goemotions_single_label("test")
    ed = D.empathetic("test", text="first_turn")
    out = {"pool": pool,
           "goemotions_test": {"text": ge["text"].to_list(), "y": [LABEL2ID[x] for x in ge["label"]]},
           "empatheticdialogues_test": {"text": ed["text"].to_list(), "y": [LABEL2ID[x] for x in ed["label"]]}}
    with gzip.open(path, "wt") as f:
        json.dump(out, f)
    print(f"wrote {path}: {len(pool)} distinct messages, GoEmotions test {len(ge)}, "
          f"EmpatheticDialogues test {len(ed)} ({pl.__name__} read the data here)")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn) -> tuple[float, object]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


def gpu_only(lenses: LensSet, reader: Reader, texts: list[str]) -> float:
    """Seconds for the model part alone: batches built and moved to the GPU before the clock starts."""
    ids, _ = reader.tokenize(texts)
    lengths = np.array([len(x) for x in ids])
    batches = []
    for idx in reader.batches(lengths):
        width = int(lengths[idx].max())
        rows = [ids[i] + [reader.pad_id] * (width - len(ids[i])) for i in idx]
        input_ids = torch.tensor(rows, device=lenses.device)
        batches.append((input_ids, (input_ids != reader.pad_id).long()))
    seconds, _ = timed(lambda: [lenses.readings(a, m) for a, m in batches])
    return seconds


def shifted(out: dict, model: dict) -> np.ndarray:
    x = shift.features(out["author"], out["reader"], out["author_valence"] - out["reader_valence"],
                       out["author_sarcasm"])
    return shift.score(x, model) >= shift.DEFAULT_THRESHOLD


def main() -> None:
    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    if "prepare" in opts:
        return prepare(Path(opts["prepare"]))
    with gzip.open(opts["data"], "rt") as f:
        data = json.load(f)
    n = int(opts.get("n", 200_000))
    budgets = [int(b) for b in opts.get("budgets", "16384,65536,262144").split(",")]
    texts = data["pool"][:n]
    device = opts.get("device", "cuda")  # cpu: a smoke run of this script, not a figure
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"{name}, torch {torch.__version__}, {len(texts)} distinct messages", flush=True)

    fp32 = LensSet(default_lens_folders(), device=device)
    bf16 = LensSet(default_lens_folders(), device=device)
    for model in bf16.models:
        model.to(torch.bfloat16)

    Reader(fp32, batch_tokens=budgets[0], max_batch=4096).read(texts[:2000])  # CUDA context, kernels
    Reader(bf16, batch_tokens=budgets[0], max_batch=4096).read(texts[:2000])
    rows, host = {}, None
    seconds, _ = timed(lambda: Reader(fp32, batch_tokens=1024, max_batch=256).read(texts[:20_000]))
    rows["fp32, budget 1024 (CPU default)"] = min(20_000, len(texts)) / seconds
    t0 = time.perf_counter()
    Reader(fp32, batch_tokens=budgets[0]).tokenize(texts)
    host = len(texts) / (time.perf_counter() - t0)
    for budget in budgets:
        for name, lenses in (("fp32", fp32), ("bf16", bf16)):
            reader = Reader(lenses, batch_tokens=budget, max_batch=budget)
            seconds, _ = timed(lambda r=reader: r.read(texts))
            rows[f"{name}, budget {budget}"] = len(texts) / seconds
            rows[f"{name}, budget {budget}, GPU only"] = len(texts) / gpu_only(lenses, reader, texts)
            print(f"  {name} budget {budget}: {rows[f'{name}, budget {budget}']:,.0f} msg/s end to end, "
                  f"{rows[f'{name}, budget {budget}, GPU only']:,.0f} msg/s GPU only", flush=True)
    base = rows["fp32, budget 1024 (CPU default)"]
    print(f"\nboth lenses, messages/s (host text preparation + tokenization alone: {host:,.0f} msg/s; "
          f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30 if device == 'cuda' else 0:.1f} GiB)")
    for label, rate in rows.items():
        print(f"  {label:<34} {rate:>10,.0f}   {rate / base:6.2f}x fp32 at 1024")

    print("\nquality, fp32 vs bf16 (same GPU, same weights):")
    best = max(budgets)
    for lens, key in (("author", "goemotions_test"), ("reader", "empatheticdialogues_test")):
        t, y = data[key]["text"], np.array(data[key]["y"])
        classes = list(range(len(LABELS))) if lens == "author" else sorted(set(y.tolist()))
        a = Reader(fp32, batch_tokens=best, max_batch=best).read(t)[0]
        b = Reader(bf16, batch_tokens=best, max_batch=best).read(t)[0]
        for name, out in (("fp32", a), ("bf16", b)):
            pred = out[lens].argmax(1)
            print(f"  {lens} on {key} ({len(t)}): {name} accuracy {accuracy(y, pred):.4f}, "
                  f"macro-F1 {macro_f1(y, pred, classes):.4f}")
        agree = {n: float((a[n].argmax(1) == b[n].argmax(1)).mean()) for n in ("author", "reader")}
        model = fp32.infos["author"].shift
        same_flag = float((shifted(a, model) == shifted(b, model)).mean())
        print(f"    bf16 vs fp32 top-1 agreement author {agree['author']:.2%}, reader {agree['reader']:.2%}; "
              f"shifted flag {same_flag:.2%}; max |p diff| "
              f"{max(np.abs(a[n] - b[n]).max() for n in ('author', 'reader')):.4f}", flush=True)


if __name__ == "__main__":
    main()
