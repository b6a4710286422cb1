"""The lenses stage: encoder + adapter + heads (``model``), the one batching path (``reading``),
training data (``data``), calibration, metrics (scikit-learn) and figures, and the committed lenses
themselves (``author/``, ``reader/``).

Kept free of heavy imports: the run and the config only need to know where the lenses are.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LENSES_DIR = Path(__file__).resolve().parent
NAMES = ("author", "reader")


def default_lens_folders(root: str | Path | None = None) -> dict[str, Path]:
    """The lens folders under ``root``, else $ECHOROOM_LENSES, else the committed ones."""
    root = Path(root or os.environ.get("ECHOROOM_LENSES") or DEFAULT_LENSES_DIR)
    return {name: root / name for name in NAMES}
