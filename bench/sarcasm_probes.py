"""How much of iSarcasmEval's author-labelled sarcasm a lens pair's encoder states carry (issue 11).

    python bench/sarcasm_probes.py [--lenses_dir=echoroom/lenses] [--base]

Probes fitted on the train share of iSarcasmEval (the split of ``echoroom.lenses.data.sarcasm``,
its authors' rephrases as non-sarcastic examples), the regularisation chosen on the tune share, AUC
printed for the tune share and the dev posts (the split ``jobs.evaluate`` reports). Nothing here
trains the encoder: each row asks whether a different head over the same pass could lift the
sarcasm AUC that ``jobs.evaluate`` measures for the lens (docs/evaluation.md records the results).

- logistic regression on the mean-pooled vector of each layer (0: the embeddings), of layer sets,
  and on the last layer's mean and max pooling together;
- an attention-pooling head over the last layer's tokens (a learnt query, then a linear head);
- TF-IDF word and character n-gram models (no encoder), for scale.

``--base`` probes the encoder without the lenses' adapter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from echoroom.lenses import data  # noqa: E402
from echoroom.lenses.model import Bert, LensSet, mean_pool, resolve_encoder  # noqa: E402
from echoroom.lenses.text import prepare  # noqa: E402

SPLITS = ("train", "tune", "dev")
SEED = 13


def states(encoder, tokenizer, texts: list[str], max_length: int):
    """Per layer, the mean-pooled vectors (n, 384); the last layer's max pooling; its tokens
    (n, max_length, 384) and their mask. Read with hooks on the encoder's own forward: the
    embeddings as the first layer's input, then each layer's output."""
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    encodings = tokenizer.encode_batch(texts)
    layers = []
    hooks = [encoder.encoder["layer"][0].register_forward_pre_hook(lambda _, args: layers.append(args[0]))]
    hooks += [layer.register_forward_hook(lambda *io: layers.append(io[2])) for layer in encoder.encoder["layer"]]
    pooled, maxed = [], []
    tokens = np.zeros((len(texts), max_length, 384), np.float32)
    masks = np.zeros((len(texts), max_length), bool)
    for i in range(0, len(texts), 64):
        batch = encodings[i:i + 64]
        width = max(len(e.ids) for e in batch)
        ids = torch.tensor([e.ids + [0] * (width - len(e.ids)) for e in batch])
        mask = torch.tensor([[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in batch])
        layers.clear()
        with torch.inference_mode():
            x = encoder(ids, mask).last_hidden_state
        pooled.append(np.stack([mean_pool(h, mask).numpy() for h in layers]))
        maxed.append(x.masked_fill(~mask.bool()[..., None], -1e4).amax(1).numpy())
        tokens[i:i + len(batch), :width] = x.numpy()
        masks[i:i + len(batch), :width] = mask.bool().numpy()
    for hook in hooks:
        hook.remove()
    return list(np.concatenate(pooled, axis=1)), np.concatenate(maxed), tokens, masks


def logistic(x: dict, y: dict, grid=(0.001, 0.003, 0.01, 0.03, 0.1), scale: bool = True) -> tuple[float, float]:
    if scale:  # dense encoder features; the sparse n-gram counts are used as they are
        scaler = StandardScaler().fit(x["train"])
        x = {s: scaler.transform(v) for s, v in x.items()}
    best = None
    for c in grid:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(x["train"], y["train"])
        tune = roc_auc_score(y["tune"], model.decision_function(x["tune"]))
        if best is None or tune > best[0]:
            best = (tune, roc_auc_score(y["dev"], model.decision_function(x["dev"])))
    return best


def attention_head(tokens: dict, masks: dict, y: dict, epochs: int = 6) -> tuple[float, float]:
    """A learnt query pools the last layer's tokens, a linear head reads the result; the epoch is
    chosen on the tune share."""
    torch.manual_seed(SEED)
    query, head = torch.nn.Linear(384, 1), torch.nn.Linear(384, 1)
    opt = torch.optim.AdamW([*query.parameters(), *head.parameters()], lr=3e-3, weight_decay=0.01)
    x = {s: torch.tensor(tokens[s]) for s in SPLITS}
    m = {s: torch.tensor(masks[s]) for s in SPLITS}
    target = torch.tensor(y["train"], dtype=torch.float32)
    weight = torch.where(target > 0, 0.5 / target.mean(), 0.5 / (1 - target.mean()))

    def score(s, idx=slice(None)):
        a = query(x[s][idx]).squeeze(-1).masked_fill(~m[s][idx], -1e4).softmax(-1)
        return head((a.unsqueeze(-1) * x[s][idx]).sum(1)).squeeze(-1)

    best, order = None, torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for idx in torch.randperm(len(target), generator=order).split(32):
            loss = (F.binary_cross_entropy_with_logits(score("train", idx), target[idx], reduction="none")
                    * weight[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            tune = roc_auc_score(y["tune"], score("tune").numpy())
            if best is None or tune > best[0]:
                best = (tune, roc_auc_score(y["dev"], score("dev").numpy()))
    return best


def row(name: str, aucs: tuple[float, float]) -> None:
    print(f"  {name:<24} {aucs[0]:.3f} / {aucs[1]:.3f}", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lenses_dir", default="echoroom/lenses", help="a folder holding author/ and reader/")
    parser.add_argument("--base", action="store_true", help="probe the encoder without the lenses' adapter")
    args = parser.parse_args(argv)
    folder = Path(args.lenses_dir)
    lenses = LensSet({n: folder / n for n in ("author", "reader")})
    tokenizer, encoder = lenses.tokenizer, lenses.models[0].encoder
    if args.base:
        tokenizer, encoder = Bert.load(Path(resolve_encoder(lenses.infos["author"].encoder)))
    if not isinstance(encoder, Bert):
        raise SystemExit(f"{folder}: the probes read a local BERT checkpoint's layers (the shipped encoder is one)")
    frames = {s: data.sarcasm(s) for s in SPLITS}
    y = {s: frames[s]["sarcastic"].to_numpy() for s in SPLITS}
    pooled, maxed, tokens, masks = {}, {}, {}, {}
    for s in SPLITS:
        texts = prepare(frames[s]["text"].to_list(), lenses.text_prep)
        pooled[s], maxed[s], tokens[s], masks[s] = states(encoder, tokenizer, texts, lenses.max_length)
    print(f"{'encoder' if args.base else folder}: sarcasm AUC, tune share / dev posts "
          f"(n={len(y['tune'])} / {len(y['dev'])})")
    rows = {f"layer {k} mean": [k] for k in range(len(pooled["train"]))}
    rows |= {"layers 1-6 mean": [1, 2, 3, 4, 5, 6], "layers 4-6 mean": [4, 5, 6]}
    for name, layers in rows.items():
        x = {s: np.concatenate([pooled[s][k] for k in layers], 1) for s in SPLITS}
        row(name, logistic(x, y))
    last = len(pooled["train"]) - 1
    x = {s: np.concatenate([pooled[s][last], maxed[s]], 1) for s in SPLITS}
    row("last mean + max", logistic(x, y))
    row("last tokens, attention", attention_head(tokens, masks, y))
    for name, vec in (("word 1-2 grams", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
                      ("char 2-5 grams", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                                         sublinear_tf=True, lowercase=False))):
        vec.fit(frames["train"]["text"].to_list())
        x = {s: vec.transform(frames[s]["text"].to_list()) for s in SPLITS}
        row(name, logistic(x, y, grid=(0.1, 0.3, 1, 3, 10), scale=False))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1:])
