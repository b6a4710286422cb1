"""Shared fixtures: small, real, written by us. Shared plain helpers are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from echoroom.lenses import default_lens_folders


def build_untrained_lenses(root: Path) -> Path:
    """A real author/reader lens pair with seeded random heads, for when none is trained yet."""
    from dataclasses import asdict

    import torch

    from echoroom.lenses.folder import LensInfo, save_lens
    from echoroom.lenses.model import AdapterConfig, EmotionModel, load_encoder

    torch.manual_seed(0)
    adapter = AdapterConfig()
    _, encoder = load_encoder(None, adapter)
    model = EmotionModel(encoder, {"author": 10, "reader": 10, "author_scales": 3, "reader_scales": 2})
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.mul_(20)  # spread the distributions so top-1 is never a near tie
    for name in ("author", "reader"):
        scales = ["valence", "arousal", "sarcasm"][:3 if name == "author" else 2]
        info = LensInfo(name=name, encoder="all-MiniLM-L6-v2", adapter=asdict(adapter), max_length=128,
                        scales=scales, scale_offset=[3.0] * len(scales), scale_factor=[0.5] * len(scales))
        save_lens(root / name, model, name, info)
    return root


@pytest.fixture(scope="session")
def lens_root(tmp_path_factory) -> Path:
    """The shipped lenses if trained, else an untrained pair: tests never depend on their outputs."""
    shipped = default_lens_folders()
    if all((f / "lens.json").is_file() for f in shipped.values()):
        return shipped["author"].parent
    return build_untrained_lenses(tmp_path_factory.mktemp("lenses"))


@pytest.fixture(scope="session")
def newer_lens_root(lens_root, tmp_path_factory) -> Path:
    """The same lenses recalibrated (temperature x 1.05): new lens versions, as a retrain gives."""
    import shutil

    from echoroom.lenses.folder import read_lens_info, stamp

    root = tmp_path_factory.mktemp("newer-lenses")
    for name in ("author", "reader"):
        shutil.copytree(lens_root / name, root / name)
        info = read_lens_info(root / name)
        info.temperature *= 1.05
        stamp(root / name, info)
    return root
