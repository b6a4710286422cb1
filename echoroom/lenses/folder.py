"""A lens on disk: a small folder holding the adapter and head weights in fp16 (``adapter``,
``head`` and, with scale heads, ``scales`` ``.safetensors``) and ``lens.json`` (``LensInfo``): the
label list, calibration, thresholds, scales, shift weights and the settings that trained it.
``version`` hashes all of it, so two lenses with one version are the same lens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from echoroom.labels import LABELS, NUM_LABELS


@dataclass
class LensInfo:
    """Everything in lens.json. ``version`` is a hash of the weights and of everything else here."""
    name: str
    encoder: str
    adapter: dict
    max_length: int
    text_prep: str = ""             # how texts are prepared before tokenizing (echoroom.lenses.text)
    temperature: float = 1.0
    bias: list[float] = field(default_factory=lambda: [0.0] * NUM_LABELS)
    thresholds: list[float] = field(default_factory=lambda: [0.5] * NUM_LABELS)
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    settings: dict = field(default_factory=dict)
    # Scales read by the lens's scale head (scales.safetensors): value = offset + factor * output,
    # valence and arousal on EmoBank's 1-5 scale, sarcasm a probability (a sigmoid of the value).
    scales: list[str] = field(default_factory=list)
    scale_offset: list[float] = field(default_factory=list)
    scale_factor: list[float] = field(default_factory=list)
    shift: dict = field(default_factory=dict)  # author lens: the shift score's weights (lenses/shift.py)
    adapter_sha256: str = ""
    version: str = ""


def scale_head(lens: str) -> str:
    """The name of a lens's scale head in the model (its emotion head is named after the lens)."""
    return f"{lens}_scales"


def trainable_state(model) -> dict[str, torch.Tensor]:
    # The pooler is never used (we mean-pool), so a full fine-tune's copy leaves it out.
    keep = {n for n, p in model.encoder.named_parameters() if p.requires_grad and not n.startswith("pooler.")}
    return {n: t for n, t in model.encoder.state_dict().items() if n in keep or "lora_" in n}


def _sha(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_lens(folder: str | Path, model, head: str, info: LensInfo) -> LensInfo:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    adapter = {k: v.detach().cpu().half().contiguous() for k, v in trainable_state(model).items()}
    head_w = {k: v.detach().cpu().half().contiguous() for k, v in model.heads[head].state_dict().items()}
    save_file(adapter, folder / "adapter.safetensors")
    save_file(head_w, folder / "head.safetensors")
    if info.scales:
        scale_w = {k: v.detach().cpu().half().contiguous()
                   for k, v in model.heads[scale_head(head)].state_dict().items()}
        save_file(scale_w, folder / "scales.safetensors")
        head_w = head_w | {f"scales.{k}": v for k, v in scale_w.items()}
    info.adapter_sha256 = _sha(adapter)
    return stamp(folder, info, head_w)


def stamp(folder: str | Path, info: LensInfo, head_w: dict[str, torch.Tensor] | None = None) -> LensInfo:
    """Write lens.json with ``version``: a hash of everything in it and of the head weights (read
    from the folder unless given), so any change to a lens (e.g. ``jobs/fit_shift.py`` adding the
    shift weights) gives it a new version."""
    folder = Path(folder)
    if head_w is None:
        head_w = load_file(folder / "head.safetensors")
        if (folder / "scales.safetensors").is_file():
            head_w |= {f"scales.{k}": v for k, v in load_file(folder / "scales.safetensors").items()}
    meta = {k: v for k, v in info.__dict__.items() if k != "version"}
    info.version = f"{info.name}-" + hashlib.sha256(
        (json.dumps(meta, sort_keys=True) + _sha(head_w)).encode()).hexdigest()[:12]
    (folder / "lens.json").write_text(json.dumps(info.__dict__, indent=2) + "\n")
    return info


def read_lens_info(folder: str | Path) -> LensInfo:
    path = Path(folder) / "lens.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a lens folder holds lens.json, adapter.safetensors "
                                "and head.safetensors (train one with `python -m jobs.train`)")
    info = LensInfo(**json.loads(path.read_text()))
    if tuple(info.labels) != LABELS:
        raise ValueError(f"{path}: lens labels {info.labels} differ from this version's {list(LABELS)}")
    return info
