"""Train the author and reader lenses.

    python -m jobs.train                                   # both lenses, default settings
    python -m jobs.train --lenses=author --epochs=1        # one lens
    accelerate launch --multi_gpu --num_processes 2 -m jobs.train --cpu_processes_ok=true

Top to bottom: settings, setup, data, model, loop, calibration, save. One LoRA adapter over the
pip-installed all-MiniLM-L6-v2 is trained for all the lenses named in ``--lenses`` at once, with
one head per lens (docs/training.md has the measurements behind that choice); training each lens
alone is ``--lenses=author`` then ``--lenses=reader``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from echoroom import settings as S
from echoroom.labels import LABELS, NUM_LABELS, READER_TEXTS
from echoroom.lenses import DEFAULT_LENSES_DIR
from echoroom.lenses.calibration import calibrate, scale_fit
from echoroom.lenses.data import DAILYDIALOG_TARGETS
from echoroom.lenses.folder import LensInfo, save_lens, scale_head
from echoroom.lenses.metrics import scale_quality
from echoroom.lenses.model import DEFAULT_ENCODER, AdapterConfig, EmotionModel, load_encoder
from echoroom.lenses.tasks import (
    SCALES,
    Examples,
    LengthGroupedBatches,
    collate_with,
    dev_outputs,
    emotion_loss,
    load_task,
    scale_losses,
)
from echoroom.lenses.text import PREPARATIONS


@dataclass(frozen=True)
class Settings:
    lenses: str = "author,reader"       # which heads to train over the one shared adapter
    out_dir: str = str(DEFAULT_LENSES_DIR)
    data_dir: str = ""                  # empty: ECHOROOM_DATA or ../shared/data
    prepared_dir: str = ""              # read examples exported by bench/sweep_lenses.py prepare instead
    encoder: str = DEFAULT_ENCODER      # a local folder or hub name also works
    # author lens data
    label_policy: str = "drop"          # drop GoEmotions labels outside ours (measured: docs/training.md), or fold them
    neutral_cap: int = 10_000           # the original project's cap on neutral-only examples
    # reader lens data (docs/labels.md: what each source brings)
    reader_sources: str = "empatheticdialogues,dailydialog"  # see echoroom.lenses.data.READER_SOURCES
    reader_text: str = "speaker_turns"  # see echoroom.lenses.data.READER_TEXTS
    reader_neutral_fraction: float = 0.0  # borrowed GoEmotions neutral: DailyDialog brings neutral (docs/labels.md)
    dailydialog_neutral_cap: int = 12_000  # of DailyDialog's 72k "no emotion" training utterances
    dailydialog_target: str = "any_of"  # happiness learnt as any of joy/love/gratitude/pride, or as joy
    dailydialog_repeat: int = 3         # DailyDialog examples seen this many times per reader epoch
    # scale heads on the same pass (docs/training.md): EmoBank valence/arousal, iSarcasmEval sarcasm
    scales: bool = True
    scale_epochs: float = 1.5
    sarcasm_epochs: float = 3.0
    sarcasm_background: int = 3000      # everyday lines (GoEmotions, DailyDialog) as non-sarcastic (docs/training.md)
    # what the lenses read: echoroom.lenses.text ("emoji_names": emoji written as their names)
    text_prep: str = "emoji_names"
    emoji_only: bool = True             # each emoji-bearing author example again as its emoji alone (docs/training.md)
    # model and optimisation
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    full_finetune: bool = False         # every encoder weight: a 45 MB reference, not a compact lens
    max_length: int = 64
    epochs: float = 1.75                # passes over the (author) data
    reader_epochs: float = 1.2          # >0: passes over the reader data instead (it is three times larger)
    batch_size: int = 32
    group_by_length: bool = True        # similar lengths per batch: half the padded tokens (LengthGroupedBatches)
    group_tasks: str = "author,reader,emobank,sarcasm"  # the tasks --group_by_length applies to (docs/training.md)
    lr: float = 1e-3
    head_lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    class_weight_power: float = 0.3     # loss weight of a label ~ frequency ** -power
    # calibration on dev
    tune_bias: bool = True
    bias_accuracy_weight: float = 1.0
    # run control
    seed: int = 13
    limit: int = 0                      # >0: use only this many train/dev examples per lens (tests)
    max_steps: int = 0                  # >0: stop after this many optimiser steps (tests)
    eval_batch_size: int = 128
    threads: int = 0                    # >0: torch.set_num_threads on CPU
    log_every: int = 50

    def __post_init__(self):
        bad = set(self.lens_names) - {"author", "reader"}
        if bad or not self.lens_names:
            raise ValueError(f"--lenses={self.lenses}: expected a comma-separated subset of author,reader")
        if self.label_policy not in ("fold", "drop"):
            raise ValueError(f"--label_policy={self.label_policy}: expected fold or drop")
        if self.reader_text not in READER_TEXTS:
            raise ValueError(f"--reader_text={self.reader_text}: expected one of {READER_TEXTS}")
        if self.sarcasm_background < 0:
            raise ValueError(f"--sarcasm_background={self.sarcasm_background}: expected 0 or more lines")
        if self.dailydialog_repeat < 1:
            raise ValueError(f"--dailydialog_repeat={self.dailydialog_repeat}: expected 1 or more")
        if not 0 <= self.reader_neutral_fraction < 1:
            raise ValueError("--reader_neutral_fraction must be in [0, 1)")
        if self.dailydialog_target not in DAILYDIALOG_TARGETS:
            raise ValueError(f"--dailydialog_target={self.dailydialog_target}: expected one of {DAILYDIALOG_TARGETS}")
        if self.scales and self.lens_names != ["author", "reader"]:
            raise ValueError("--scales=true trains both lenses' scale heads: "
                             "use --lenses=author,reader or --scales=false")
        if set(self.group_tasks.split(",")) - {"author", "reader", "emobank", "sarcasm"}:
            raise ValueError(f"--group_tasks={self.group_tasks}: expected a comma-separated subset of "
                             "author,reader,emobank,sarcasm")
        if self.text_prep not in PREPARATIONS:
            raise ValueError(f"--text_prep={self.text_prep}: expected one of {PREPARATIONS}")

    @property
    def lens_names(self) -> list[str]:
        return [x.strip() for x in self.lenses.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> dict:
    s = S.parse(Settings, sys.argv[1:] if argv is None else argv)

    # --- setup ---
    use_cuda = torch.cuda.is_available()
    accelerator = Accelerator(cpu=not use_cuda, mixed_precision="bf16" if use_cuda else "no")
    if s.threads and not use_cuda:
        torch.set_num_threads(s.threads)
    set_seed(s.seed)
    main_proc = accelerator.is_main_process
    # `accelerate launch --cpu --num_processes 2` silently starts one process: refuse to train on
    # a different world size than the launcher announced.
    expected = int(os.environ.get("WORLD_SIZE", "1"))
    if accelerator.num_processes != expected:
        raise RuntimeError(f"launched for {expected} processes but running {accelerator.num_processes}; on CPU use "
                           "`accelerate launch --multi_gpu --num_processes N` (the --cpu flag runs one process)")
    if main_proc:
        print(f"train: {accelerator.num_processes} process(es) on {accelerator.device}\n{S.describe(s)}", flush=True)

    # --- data ---
    tasks = s.lens_names + (["emobank", "sarcasm"] if s.scales else [])
    train = {name: load_task(name, "train", s) for name in tasks}
    dev = {name: load_task(name, "dev", s) for name in tasks}
    if main_proc:
        for name in tasks[len(s.lens_names):]:
            print(f"{name}: {len(train[name][0])} train / {len(dev[name][0])} dev examples", flush=True)
        for name in s.lens_names:
            counts = train[name][1].sum(0)
            print(f"{name}: {len(train[name][0])} train / {len(dev[name][0])} dev examples; train label mass "
                  + ", ".join(f"{l} {c:.0f}" for l, c in zip(LABELS, counts)), flush=True)

    # --- model ---
    adapter = AdapterConfig(r=s.lora_r, alpha=s.lora_alpha, dropout=s.lora_dropout, full_finetune=s.full_finetune)
    tokenizer, encoder = load_encoder(s.encoder, adapter)
    widths = {n: NUM_LABELS for n in s.lens_names} | (
        {scale_head(n): len(SCALES[n]) for n in s.lens_names} if s.scales else {})
    model = EmotionModel(encoder, widths)
    if s.scales:  # regression targets standardised on train; sarcasm classes balanced
        centre = torch.tensor(train["emobank"][1].mean(0))
        spread = torch.tensor(train["emobank"][1].std(0))
        positive = float(train["sarcasm"][1].mean())
        pos_weight = (1 - positive) / positive
    weights = {}
    for name in s.lens_names:
        freq = train[name][1].sum(0) / len(train[name][1])
        w = np.where(freq > 0, np.maximum(freq, 1e-4) ** -s.class_weight_power, 0.0)
        weights[name] = torch.tensor(w / (w * freq).sum(), dtype=torch.float32)  # mean weight 1

    loaders = {}
    collate = collate_with(tokenizer, s.max_length)
    for name in tasks:
        if s.group_by_length and name in s.group_tasks.split(","):
            batches = LengthGroupedBatches([len(t) for t in train[name][0]], s.batch_size, s.seed)
            loaders[name] = torch.utils.data.DataLoader(Examples(*train[name]), batch_sampler=batches,
                                                        collate_fn=collate)
        else:
            g = torch.Generator().manual_seed(s.seed)
            loaders[name] = torch.utils.data.DataLoader(Examples(*train[name]), batch_size=s.batch_size,
                                                        shuffle=True, collate_fn=collate, generator=g, drop_last=True)
    head_params = [p for p in model.heads.parameters()]
    body_params = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": body_params, "lr": s.lr},
                                   {"params": head_params, "lr": s.head_lr}], weight_decay=s.weight_decay)
    model, optimizer, *prepared = accelerator.prepare(model, optimizer, *loaders.values())
    loaders = dict(zip(loaders, prepared))

    # one task per step, identically on every rank, in proportion to the tasks' sizes (--reader_epochs: its own)
    rng = np.random.default_rng(s.seed)
    if s.reader_epochs or s.scales:
        epochs = {"author": s.epochs, "reader": s.reader_epochs or s.epochs, "emobank": s.scale_epochs,
                  "sarcasm": s.sarcasm_epochs}
        steps = [name for name in tasks for _ in range(int(len(loaders[name]) * epochs[name]))]
        schedule = rng.permutation(steps).tolist()
    else:
        per_epoch = [name for name in s.lens_names for _ in range(len(loaders[name]))]
        schedule = []
        while len(schedule) < int(len(per_epoch) * s.epochs):
            schedule.extend(rng.permutation(per_epoch).tolist())
        schedule = schedule[:int(len(per_epoch) * s.epochs)]
    if s.max_steps:
        schedule = schedule[:s.max_steps]
    total = len(schedule)
    warm = max(1, int(total * s.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min((k + 1) / warm, max(0.0, (total - k) / max(1, total - warm))))

    # --- loop ---
    iters = {name: iter(loader) for name, loader in loaders.items()}
    model.train()
    t0, log, running = time.time(), [], {n: [] for n in tasks}
    bar = tqdm(schedule, desc="train", disable=not main_proc, mininterval=2.0)
    for step, name in enumerate(bar, 1):
        try:
            ids, mask, target = next(iters[name])
        except StopIteration:
            iters[name] = iter(loaders[name])
            ids, mask, target = next(iters[name])
        if name in s.lens_names:
            logits = model(ids, mask, [name])[name].float()
            loss = emotion_loss(logits, target, weights[name].to(target.device), any_of=name == "reader")
        else:
            outputs = model(ids, mask, [scale_head(n) for n in s.lens_names])
            loss = scale_losses({k: v.float() for k, v in outputs.items()}, name, target,
                                centre.to(target.device), spread.to(target.device), pos_weight)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        running[name].append(loss.item())
        if step % s.log_every == 0 or step == total:
            entry = {"step": step, "seconds": round(time.time() - t0, 1),
                     **{f"loss_{n}": float(np.mean(v)) for n, v in running.items() if v}}
            log.append(entry)
            running = {n: [] for n in tasks}
            bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items() if k.startswith("loss")})
    train_seconds = time.time() - t0
    accelerator.wait_for_everyone()

    # --- calibration on dev and save (main process only) ---
    result = {"settings": asdict(s), "train_seconds": train_seconds, "steps": total, "log": log,
              "processes": accelerator.num_processes, "device": str(accelerator.device), "lenses": {}}
    if main_proc:
        model = accelerator.unwrap_model(model)
        out = Path(s.out_dir)
        heads = s.lens_names + ([scale_head(n) for n in s.lens_names] if s.scales else [])
        raw = {name: dev_outputs(model, tokenizer, dev[name][0], s.max_length, s.eval_batch_size, heads,
                                 accelerator.device) for name in tasks}
        for name in s.lens_names:
            cal = calibrate(raw[name][name], dev[name][1], any_of=name == "reader", with_bias=s.tune_bias,
                            accuracy_weight=s.bias_accuracy_weight)
            info = LensInfo(name=name, encoder=s.encoder, adapter=asdict(adapter), max_length=s.max_length,
                            text_prep=s.text_prep, temperature=cal["temperature"], bias=cal["bias"].round(6).tolist(),
                            thresholds=cal["thresholds"].round(4).tolist(), settings=asdict(s))
            dev_metrics = cal["dev"]
            if s.scales:  # each scale mapped onto its scale on held-out examples (tasks.load_task "dev")
                info.scales = list(SCALES[name])
                for k, scale in enumerate(info.scales):
                    task, column = ("sarcasm", 0) if scale == "sarcasm" else ("emobank", k + 2 * (name == "reader"))
                    out_k, truth = raw[task][scale_head(name)][:, k], dev[task][1][:, column]
                    offset, factor = scale_fit(out_k, truth, probability=scale == "sarcasm")
                    info.scale_offset.append(round(offset, 6))
                    info.scale_factor.append(round(factor, 6))
                    dev_metrics[f"{scale}_dev"] = scale_quality(offset + factor * out_k, truth, scale == "sarcasm")
            # A full fine-tune saves the whole encoder (45 MB a folder, not compact: a reference that
            # jobs.evaluate measures like any lens, docs/evaluation.md).
            info = save_lens(out / name, model, name, info)
            (out / name / "train_log.json").write_text(json.dumps(
                {k: v for k, v in result.items() if k != "lenses"} | {"dev": dev_metrics}, indent=2) + "\n")
            result["lenses"][name] = {"dev": dev_metrics, "version": info.version, "temperature": info.temperature}
            m = dev_metrics
            print(f"{name}: dev accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f} (before bias "
                  f"{m['accuracy_before_bias']:.4f} / {m['macro_f1_before_bias']:.4f}), "
                  f"T={info.temperature:.3f}, scales {({k: v for k, v in m.items() if k.endswith('_dev')})} "
                  f"-> {info.version}", flush=True)
        print(f"train: {total} steps in {train_seconds:.0f}s", flush=True)
        if s.scales:  # the shift score's weights, from the pair just saved
            from jobs import fit_shift
            result["shift"] = fit_shift.main([f"--lenses_dir={out}", f"--data_dir={s.data_dir}"])
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


if __name__ == "__main__":
    main()
