"""Shared fixtures: small, real, written by us. Other modules add theirs below."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from echoroom.demo import chatter
from echoroom.lenses import default_lens_folders


def build_untrained_lenses(root: Path) -> Path:
    """A real author/reader lens pair with seeded random heads, for when none is trained yet."""
    import torch

    from dataclasses import asdict
    from echoroom.lenses.model import AdapterConfig, EmotionModel, LensInfo, load_encoder, save_lens

    torch.manual_seed(0)
    adapter = AdapterConfig()
    _, encoder = load_encoder(None, adapter)
    model = EmotionModel(encoder, ["author", "reader"])
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.mul_(20)  # spread the distributions so top-1 is never a near tie
    for name in ("author", "reader"):
        info = LensInfo(name=name, encoder="all-MiniLM-L6-v2", adapter=asdict(adapter), max_length=128)
        save_lens(root / name, model, name, info)
    return root


@pytest.fixture(scope="session")
def lens_root(tmp_path_factory) -> Path:
    """The shipped lenses if trained, else an untrained pair: tests never depend on their outputs."""
    shipped = default_lens_folders()
    if all((f / "lens.json").is_file() for f in shipped.values()):
        return shipped["author"].parent
    return build_untrained_lenses(tmp_path_factory.mktemp("lenses"))


def write_corpus(path: Path, n: int, seed: int = 0, start: int = 0, row_group_size: int | None = None,
                 **extra_columns) -> Path:
    """A synthetic corpus file of ``n`` messages (see echoroom/demo/chatter.py)."""
    cols = chatter.messages(n, seed=seed, start=start)
    cols.update(extra_columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return path
