"""Fast-path variants against fp32 on the official test sets, in one run: speed and quality.

    python bench/fast_path.py --sample=500             # every variant, 500 messages per test set
    python bench/fast_path.py --variants=fp32,bf16     # the full test sets, the named variants

The sets are jobs/evaluate.py's (docs/evaluation.md): the author lens on GoEmotions test, single
label (2,587), the reader lens on EmpatheticDialogues test first turns (2,115). Every variant reads
every message of both sets through the scoring path (``Scorer.read``: both lenses in one pass), so
each message also gets its ``shifted`` flag (shift score >= ``shift.DEFAULT_THRESHOLD``, the
author lens's fitted weights, as jobs/evaluate.py and the scoring job compute it).

The bar (issue 14): accuracy and macro-F1 within 0.5 points of fp32 for both lenses, and the
``shifted`` flag the same as fp32's on at least 98% of messages. Goal: 20x the two-pipeline
baseline of bench/bench_score.py, timed here on the same messages in the same run.

Speed: each variant's best of ``--repeats`` interleaved rounds (the machine is shared), after a
warm-up batch; ``fp32`` is always measured first and is the reference for every delta.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Imported first: it sets the oneDNN cache policy that scoring runs under (before any matmul).
from echoroom.scoring import scorer as S  # noqa: I001

import numpy as np
import torch

from echoroom.labels import LABEL2ID, NUM_LABELS
from echoroom.lenses import data as D
from echoroom.lenses import default_lens_folders, shift
from echoroom.lenses.metrics import accuracy, macro_f1
from echoroom.lenses.model import LensSet

BAR_POINTS = 0.005  # accuracy and macro-F1 within 0.5 points of fp32
BAR_SHIFTED = 0.98  # shifted flag agreement with fp32
GOAL_VS_BASELINE = 20.0


class HiddenStates:
    """What ``EmotionModel.embed`` reads from an encoder's output."""

    def __init__(self, last_hidden_state: torch.Tensor):
        self.last_hidden_state = last_hidden_state


class Autocast(torch.nn.Module):
    """The fp32 encoder run under CPU autocast: matmuls in bf16, norms and softmax in fp32."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return HiddenStates(hidden.float())


class OnnxEncoder(torch.nn.Module):
    """The encoder exported to ONNX and run by ONNX Runtime (optionally int8 dynamic quantization,
    per-channel weights), in place of the torch module."""

    def __init__(self, encoder: torch.nn.Module, folder: Path, int8: bool, threads: int):
        super().__init__()
        import onnxruntime as ort

        path = export_onnx(encoder, folder / "encoder.onnx")
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            quantized = folder / "encoder-int8.onnx"
            quantize_dynamic(path, quantized, weight_type=QuantType.QInt8, per_channel=True)
            path = quantized
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, input_ids, attention_mask):
        out = self.session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]
        return HiddenStates(torch.from_numpy(out))


def export_onnx(encoder: torch.nn.Module, path: Path) -> Path:
    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids, mask = torch.ones(2, 8, dtype=torch.int64), torch.ones(2, 8, dtype=torch.int64)
    # A padded example: the encoder drops the mask when nothing is padded, and a trace keeps the
    # branch its example took (the mask of an unpadded batch, all True, gives the same result).
    mask[1, 4:] = 0
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "hidden": {0: "batch", 1: "tokens"}}
    # The TorchScript exporter: the dynamo one needs onnxscript, which is not installed. It warns
    # that it is legacy and that the mask test above is traced as a constant (intended).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHidden().eval(), (ids, mask), str(path), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["hidden"], dynamic_axes=axes)
    return path


def linear_names(encoder: torch.nn.Module) -> set[str]:
    return {n for n, m in encoder.named_modules() if isinstance(m, torch.nn.Linear)}


class FullRangeLinear(torch.ao.nn.quantized.dynamic.Linear):
    """PyTorch's dynamic int8 Linear quantizes activations to 7 bits (``reduce_range=True``, for
    AVX2 without VNNI, whose u8 x s8 pair sums saturate int16); this one uses all 8 bits."""

    def forward(self, x):
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)


def dynamic_int8(encoder: torch.nn.Module, names: set[str] | None = None, per_channel: bool = False,
                 full_range: bool = False, engine: str | None = None):
    """PyTorch dynamic int8 of the ``names`` Linear layers (all of them by default), weights packed
    for ``engine`` (the default: x86, i.e. fbgemm)."""
    qconfig = (torch.ao.quantization.per_channel_dynamic_qconfig if per_channel
               else torch.ao.quantization.default_dynamic_qconfig)
    spec = dict.fromkeys(linear_names(encoder) if names is None else names, qconfig)
    mapping = {torch.nn.Linear: FullRangeLinear if full_range else torch.ao.nn.quantized.dynamic.Linear}
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine or before
    try:
        with warnings.catch_warnings():  # torch 2.13 announces the API's move to torchao
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(encoder, spec, mapping=mapping, inplace=False)
    finally:
        torch.backends.quantized.engine = before


def skipping(encoder: torch.nn.Module, skip: tuple[str, ...]) -> set[str]:
    """The Linear layers whose names end with none of ``skip``."""
    return {n for n in linear_names(encoder) if not n.endswith(skip)}


def variants(args, tmp: Path) -> dict:
    """name -> a function that turns the fp32 encoder into the variant's."""
    ffn_out = tuple(f"layer.{i}.output.dense" for i in range(6))
    full = dict(per_channel=True, full_range=True)
    out = {
        "fp32": lambda e: e,
        "int8 dynamic, all Linear (today)": lambda e: dynamic_int8(e),
        "int8 dynamic, per-channel": lambda e: dynamic_int8(e, per_channel=True),
        "int8 dynamic, per-channel, 8-bit activations": lambda e: dynamic_int8(e, **full),
        "int8 dynamic, per-channel, 8-bit activations, FFN output fp32":
            lambda e: dynamic_int8(e, skipping(e, ffn_out), **full),
        "int8 dynamic, oneDNN engine, per-channel": lambda e: dynamic_int8(e, per_channel=True, engine="onednn"),
        "bf16 weights (the fast path: precision bf16)": S.Bf16Encoder,
        "bf16 autocast": Autocast,
    }
    try:
        import onnxruntime  # noqa: F401  (optional: not a dependency of the project)
    except ImportError:
        print("onnxruntime not installed: its variants are left out", flush=True)
    else:
        out["onnxruntime fp32"] = lambda e: OnnxEncoder(e, tmp, False, args.threads)
        out["onnxruntime int8 dynamic, per-channel"] = lambda e: OnnxEncoder(e, tmp, True, args.threads)
    wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [w for w in wanted if not any(w in name for name in out)]
    if unknown:
        raise SystemExit(f"--variants: {unknown} match no variant; known: {list(out)}")
    return {name: make for name, make in out.items()
            if name == "fp32" or not wanted or any(w in name for w in wanted)}


def test_sets(args) -> tuple[list[str], dict]:
    """All messages (GoEmotions test, then EmpatheticDialogues test) and each lens's labelled part."""
    ge = D.goemotions_single_label("test", root=args.data_dir or None)
    ed = D.empathetic("test", text="first_turn", root=args.data_dir or None)
    if args.sample:
        ge, ed = (df.sample(n=min(args.sample, len(df)), seed=13) for df in (ge, ed))
    ge_y = np.array([LABEL2ID[x] for x in ge["label"]])
    ed_y = np.array([LABEL2ID[x] for x in ed["label"]])
    n = len(ge)
    sets = {"author": (slice(0, n), ge_y, list(range(NUM_LABELS))),
            "reader": (slice(n, n + len(ed)), ed_y, sorted(set(ed_y.tolist())))}
    return ge["text"].to_list() + ed["text"].to_list(), sets


def shifted(out: dict, model: dict | None) -> np.ndarray:
    x = shift.features(out["author"], out["reader"], out["author_valence"] - out["reader_valence"],
                       out["author_sarcasm"])
    return shift.score(x, model) >= shift.DEFAULT_THRESHOLD


def quality(out: dict, ref: dict, sets: dict, model: dict | None) -> dict:
    q = {}
    for lens, (part, y, classes) in sets.items():
        pred = out[lens][part].argmax(1)
        q[lens] = {"accuracy": accuracy(y, pred), "macro_f1": macro_f1(y, pred, classes),
                   "agreement": float((out[lens].argmax(1) == ref[lens].argmax(1)).mean())}
    q["shifted_agreement"] = float((shifted(out, model) == shifted(ref, model)).mean())
    q["max_prob_diff"] = max(float(np.abs(out[lens] - ref[lens]).max()) for lens in sets)
    return q


def passes(q: dict, ref: dict) -> bool:
    close = all(abs(q[lens][m] - ref[lens][m]) <= BAR_POINTS for lens in ("author", "reader")
                for m in ("accuracy", "macro_f1"))
    return close and q["shifted_agreement"] >= BAR_SHIFTED


def baseline_seconds(lenses: LensSet, texts: list[str]) -> float:
    """bench/bench_score.py's baseline: one transformers pipeline per lens, batch_size 32."""
    from bench_score import pipeline_for

    pipes = {n: pipeline_for(lenses, n) for n in lenses.names}
    for p in pipes.values():
        p(texts[:32], batch_size=32, truncation=True, max_length=lenses.max_length)
    t0 = time.perf_counter()
    for p in pipes.values():
        p(texts, batch_size=32, truncation=True, max_length=lenses.max_length)
    return time.perf_counter() - t0


def table(names, seconds, cpu_seconds, qualities, n, base_s) -> list[str]:
    ref, fp32_s = qualities["fp32"], seconds["fp32"]
    rows = ["| variant | msg/s | vs fp32 | vs baseline | msg per CPU-second (vs fp32) "
            "| author acc / macro-F1 (Δ points) | reader acc / macro-F1 (Δ points) "
            "| top-1 agreement author / reader | shifted agreement | max abs Δ probability | bar |",
            "|---" * 11 + "|"]
    for name in names:
        q, s = qualities[name], seconds[name]
        lens = [f"{q[x]['accuracy']:.4f} / {q[x]['macro_f1']:.4f} "
                f"({100 * (q[x]['accuracy'] - ref[x]['accuracy']):+.2f} / "
                f"{100 * (q[x]['macro_f1'] - ref[x]['macro_f1']):+.2f})" for x in ("author", "reader")]
        vs_base = f"{base_s / s:.2f}x" if base_s else "-"
        verdict = "reference" if name == "fp32" else "pass" if passes(q, ref) else "fail"
        cpu = f"{n / cpu_seconds[name]:,.1f} ({cpu_seconds['fp32'] / cpu_seconds[name]:.2f}x)"
        rows.append(f"| {name} | {n / s:,.1f} | {fp32_s / s:.2f}x | {vs_base} | {cpu} | {lens[0]} | {lens[1]} "
                    f"| {q['author']['agreement']:.2%} / {q['reader']['agreement']:.2%} "
                    f"| {q['shifted_agreement']:.2%} | {q['max_prob_diff']:.4f} | {verdict} |")
    return rows


def main(args) -> None:
    import tempfile

    torch.set_num_threads(args.threads)
    texts, sets = test_sets(args)
    folders = default_lens_folders(args.lenses)
    seconds, cpu_seconds, outputs, scorers = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in variants(args, Path(tmp)).items():
            lenses = LensSet(folders)
            for model in lenses.models:
                model.encoder = make(model.encoder)
            # Each variant at its own best budget unless one is given: bf16 gains from larger
            # batches, fp32, int8 and ONNX Runtime do not (docs/scoring.md, Fast path).
            path = "bf16" if name.startswith("bf16") else "fp32"
            scorers[name] = S.Scorer(lenses, batch_tokens=args.batch_tokens or S.BATCH_TOKENS[path])
        model = scorers["fp32"].lenses.infos["author"].shift
        budgets = ", ".join(f"{n} {s.batch_tokens}" for n, s in scorers.items())
        print(f"{len(texts)} messages ({sets['author'][1].size} GoEmotions test, {sets['reader'][1].size} "
              f"EmpatheticDialogues test), {args.threads} threads, best of {args.repeats} rounds; "
              f"tokens per batch: {budgets}", flush=True)
        for r in range(args.repeats):
            for name, scorer in scorers.items():
                scorer.read(texts[:64])
                t0, c0 = time.perf_counter(), time.process_time()
                outputs[name] = scorer.read(texts)[0]
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                seconds[name] = min(seconds.get(name, np.inf), wall)
                cpu_seconds[name] = min(cpu_seconds.get(name, np.inf), cpu)
                print(f"  round {r + 1}: {name:<44} {len(texts) / wall:8.1f} msg/s, "
                      f"{len(texts) / cpu:8.1f} msg per CPU-second", flush=True)
    base_s = baseline_seconds(scorers["fp32"].lenses, texts) if args.baseline else 0.0
    qualities = {name: quality(out, outputs["fp32"], sets, model) for name, out in outputs.items()}
    if base_s:
        print(f"baseline (2 pipelines, batch 32): {len(texts) / base_s:.1f} msg/s")
    print("\n".join(table(list(scorers), seconds, cpu_seconds, qualities, len(texts), base_s)))
    print(f"bar: accuracy and macro-F1 within {100 * BAR_POINTS:.1f} points of fp32 for both lenses, shifted "
          f"agreement >= {BAR_SHIFTED:.0%}; goal {GOAL_VS_BASELINE:.0f}x baseline")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=0, help="messages per test set (0: the full sets)")
    ap.add_argument("--variants", default="", help="comma-separated parts of variant names (fp32 always runs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-tokens", dest="batch_tokens", type=int, default=0,
                    help="padded tokens per batch for every variant (0: each its own, scorer.BATCH_TOKENS)")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="also time bench_score.py's two pipelines on the same messages")
    ap.add_argument("--lenses")
    ap.add_argument("--data-dir", dest="data_dir", default="")
    main(ap.parse_args())
