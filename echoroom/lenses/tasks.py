"""What each head learns from, in batches, and with which loss (used by jobs/train.py).

Four tasks share one encoder pass (one adapter):
- ``author``: GoEmotions mapped onto our labels, soft cross-entropy (multi-label mass shared);
- ``reader``: EmpatheticDialogues, DailyDialog and borrowed neutral, "any of" cross-entropy: the
  loss is -log of the summed probability of the labels an example may be read as, which is plain
  cross-entropy for one label and lets DailyDialog's happiness be joy, love, gratitude or pride;
- ``emobank``: valence and arousal as the writer felt them (author head) and as readers felt them
  (reader head), standardised regression (mean squared error);
- ``sarcasm``: the post's own author's sarcasm label (author head), logistic loss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from echoroom.lenses.calibration import nll
from echoroom.lenses.folder import scale_head
from echoroom.lenses.text import prepare

# The scales each lens reads besides its emotions, in the order of its scale head's outputs.
SCALES = {"author": ("valence", "arousal", "sarcasm"), "reader": ("valence", "arousal")}
EMOBANK_COLUMNS = {"author": ("writer_V", "writer_A"), "reader": ("reader_V", "reader_A")}


def task_key(name: str, split: str, s) -> str:
    """The file name of a task's examples under --prepared_dir: every setting that shapes them."""
    if name == "author":
        return f"author-{split}-{s.label_policy}-{s.neutral_cap}-{s.seed}-{s.limit}"
    return (f"reader-{split}-{s.reader_sources.replace(',', '+')}-{s.reader_text}-{s.reader_neutral_fraction}-"
            f"{s.dailydialog_neutral_cap}-{s.dailydialog_target}-{s.seed}-{s.limit}")


def load_task(name: str, split: str, s) -> tuple[list[str], np.ndarray]:
    """(prepared texts, targets): emotion targets (n, 10) for author/reader, standardisation
    aside the raw scale targets for emobank (n, 4: writer V, A, reader V, A) and sarcasm (n, 1)."""
    texts, targets = examples(name, split, s)
    if name == "author" and split == "train" and s.emoji_only:
        texts, targets = with_emoji_only(texts, targets)
    return prepare(texts, s.text_prep), targets


def examples(name: str, split: str, s) -> tuple[list[str], np.ndarray]:
    """A task's texts as stored (not prepared) and their targets, from --prepared_dir or the data."""
    if s.prepared_dir and name in ("author", "reader"):
        import pyarrow.parquet as pq
        table = pq.read_table(Path(s.prepared_dir) / f"{task_key(name, split, s)}.parquet")
        return table["text"].to_pylist(), np.array(table["target"].to_pylist(), dtype=np.float32)
    # Imported here so that a run from --prepared_dir works where polars is not installed.
    from echoroom.lenses import data as D
    root = s.data_dir or None
    if name == "author":
        df = D.goemotions(split, policy=s.label_policy, neutral_cap=s.neutral_cap if split == "train" else None,
                          seed=s.seed, root=root)
    elif name == "reader":
        df = D.reader_data(split, text=s.reader_text, neutral_fraction=s.reader_neutral_fraction,
                           sources=tuple(x.strip() for x in s.reader_sources.split(",") if x.strip()),
                           dailydialog_neutral_cap=s.dailydialog_neutral_cap,
                           dailydialog_target=s.dailydialog_target, seed=s.seed, root=root)
        if split == "train" and s.dailydialog_repeat > 1:  # its emotions are few: seen more often (docs/training.md)
            import polars as pl
            dd = df.filter(pl.col("source") == "dailydialog")
            df = pl.concat([df] + [dd] * (s.dailydialog_repeat - 1))
    elif name == "emobank":
        # EmoBank's dev split is only reported: the held share of train maps the heads onto 1-5
        df = D.emobank("fit" if split == "train" else "held", root=root)
        df = df.with_columns(target=np_list(df.select(*EMOBANK_COLUMNS["author"], *EMOBANK_COLUMNS["reader"])))
    elif name == "sarcasm":
        df = D.sarcasm("train" if split == "train" else "tune", root=root)
        if split == "train" and s.sarcasm_background:
            import polars as pl
            df = pl.concat([df, D.sarcasm_background(s.sarcasm_background, seed=s.seed, root=root)])
        df = df.with_columns(target=np_list(df.select("sarcastic")))
    else:
        raise ValueError(f"unknown task {name!r}")
    if s.limit:
        df = df.sample(n=min(s.limit, len(df)), seed=s.seed)
    return df["text"].to_list(), np.array(df["target"].to_list(), dtype=np.float32)


def with_emoji_only(texts: list[str], targets: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The examples plus, for each one with an emoji, its emoji alone with the same targets.

    No training text is emoji only, so a lone "❤️" or "👏" falls back on the length prior (short
    lines are mostly neutral in GoEmotions). Its emoji alone, carrying what the writer of the whole
    comment meant, teaches what authors mean by them (❤️: love and gratitude, 👏: admiration,
    which is joy); about 2% more author examples (docs/training.md).
    """
    import emoji
    extra = [(i, "".join(e["emoji"] for e in emoji.emoji_list(t))) for i, t in enumerate(texts)]
    extra = [(i, only) for i, only in extra if only]
    if not extra:
        return texts, targets
    index = np.array([i for i, _ in extra])
    return texts + [only for _, only in extra], np.concatenate([targets, targets[index]])


def np_list(frame):
    """A frame's numeric columns as one list column (a row's targets)."""
    import polars as pl
    return pl.Series(frame.to_numpy().astype(np.float32).tolist(), dtype=pl.List(pl.Float32))


class Examples(torch.utils.data.Dataset):
    def __init__(self, texts, targets):
        self.texts, self.targets = texts, targets

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i], self.targets[i]


class LengthGroupedBatches(torch.utils.data.Sampler):
    """Batches of texts of similar length, in random order, a new draw each epoch.

    Random batches of chat pad to 2-2.7x their real tokens (one long text sets the width of 31
    short ones), and the encoder's cost grows with padded tokens. Each epoch shuffles, sorts each
    window of ``window`` batches by length and cuts it into batches, then shuffles the batches:
    padding falls to ~1.1x and batch order stays random (a window still mixes all sources).
    """

    def __init__(self, lengths, batch_size: int, seed: int, window: int = 50):
        self.lengths = np.asarray(lengths)
        self.batch_size, self.window = batch_size, window
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.lengths) // self.batch_size  # drop_last

    def __iter__(self):
        order = self.rng.permutation(len(self.lengths))
        span = self.batch_size * self.window
        batches = []
        for i in range(0, len(order), span):
            chunk = order[i:i + span]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[j:j + self.batch_size].tolist() for j in range(0, len(chunk), self.batch_size)]
        batches = [b for b in batches if len(b) == self.batch_size][:len(self)]
        self.rng.shuffle(batches)
        return iter(batches)


def collate_with(tokenizer, max_length):
    def collate(items):
        texts, targets = zip(*items)
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"], torch.tensor(np.stack(targets))
    return collate


def emotion_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, any_of: bool) -> torch.Tensor:
    """Class-weighted cross-entropy against soft targets, or against the set of allowed labels."""
    return (nll(torch.log_softmax(logits, -1), target, any_of) * (target * weights).sum(-1)).mean()


def scale_losses(outputs: dict[str, torch.Tensor], task: str, target: torch.Tensor,
                 centre: torch.Tensor, spread: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """The emobank task trains both lenses' valence/arousal outputs; sarcasm the author's third."""
    if task == "emobank":
        z = (target - centre) / spread
        return (torch.nn.functional.mse_loss(outputs[scale_head("author")][:, :2], z[:, :2])
                + torch.nn.functional.mse_loss(outputs[scale_head("reader")][:, :2], z[:, 2:]))
    return torch.nn.functional.binary_cross_entropy_with_logits(
        outputs[scale_head("author")][:, 2], target[:, 0], pos_weight=torch.tensor(pos_weight))


@torch.no_grad()
def dev_outputs(model, tokenizer, texts, max_length: int, batch_size: int, heads: list[str], device):
    """Every named head's raw outputs on texts, in their order (length-sorted batches)."""
    model.eval()
    out = {h: [] for h in heads}
    order = np.argsort([len(t) for t in texts])
    for i in range(0, len(texts), batch_size):
        idx = order[i:i + batch_size]
        enc = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(device)
        for h, v in model(enc["input_ids"], enc["attention_mask"], heads).items():
            out[h].append(v.float().cpu().numpy())
    result = {}
    for h, parts in out.items():
        z = np.concatenate(parts)
        result[h] = np.empty_like(z)
        result[h][order] = z
    model.train()
    return result
