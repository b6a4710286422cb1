"""Fit the shift score's weights for a trained lens pair and save them with the author lens.

    python -m jobs.fit_shift                         # the lenses in echoroom/lenses/
    python -m jobs.fit_shift --lenses_dir=runs/x     # a pair trained elsewhere (jobs/train.py runs this)

The shift score (echoroom/lenses/shift.py) says how likely it is that a message's meaning shifts
between its author and its readers. It is fitted where both sides were measured, on training data
the lenses' heads never learnt from: iSarcasmEval's tune share (a post shifts when its author meant
sarcasm: readers mostly miss it) and EmoBank's held-out tenth of train (a sentence shifts when its
writer-perspective and reader-perspective valence differ by at least the ``gap_quantile`` of
EmoBank train). The two sources weigh the same. The weights go into the author lens's lens.json
(``shift``), which gives it a new version; the dev splits that evaluation reports stay unseen.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from echoroom import settings as S
from echoroom.lenses import DEFAULT_LENSES_DIR, shift
from echoroom.lenses import data as D
from echoroom.lenses.folder import read_lens_info, stamp
from echoroom.lenses.model import LensSet


@dataclass(frozen=True)
class Settings:
    lenses_dir: str = S.setting(str(DEFAULT_LENSES_DIR), "folder holding author/ and reader/")
    data_dir: str = S.setting("", "empty: ECHOROOM_DATA or ../shared/data")
    gap_quantile: float = S.setting(0.75, "EmoBank sentences at or above this quantile of |writer - reader| "
                                          "valence count as shifted")
    batch_size: int = S.setting(64, "texts per batch")


def main(argv: list[str] | None = None) -> dict:
    s = S.parse(Settings, sys.argv[1:] if argv is None else argv)
    print(f"fit_shift:\n{S.describe(s)}", flush=True)
    folders = {lens: Path(s.lenses_dir) / lens for lens in ("author", "reader")}
    root = s.data_dir or None

    # --- data: where both sides were measured, outside what the heads trained and are reported on ---
    sarcasm = D.sarcasm("tune", root=root)
    held = D.emobank("held", root=root)  # the share jobs/train.py holds out
    threshold = D.emobank_large_gap(s.gap_quantile, root=root)
    texts = sarcasm["text"].to_list() + held["text"].to_list()
    y = np.concatenate([sarcasm["sarcastic"].to_numpy(),
                        (np.abs((held["writer_V"] - held["reader_V"]).to_numpy()) >= threshold).astype(int)])
    groups = np.array(["sarcasm"] * len(sarcasm) + ["emobank"] * len(held))

    # --- model: the trained pair reads them ---
    lenses = LensSet(folders)
    if "author_sarcasm" not in lenses.outputs or "reader_valence" not in lenses.outputs:
        raise SystemExit(f"{s.lenses_dir}: these lenses have no scale heads (train with --scales=true)")
    out = lenses.predict(texts, s.batch_size)
    x = shift.features(out["author"], out["reader"], out["author_valence"] - out["reader_valence"],
                       out["author_sarcasm"])

    # --- fit and save ---
    model = shift.fit(x, y, groups)
    fitted = shift.score(x, model)
    quality = {g: {"n": int((groups == g).sum()), "positives": int(y[groups == g].sum()),
                   "auc_shift_score": float(roc_auc_score(y[groups == g], fitted[groups == g])),
                   "auc_js_divergence": float(roc_auc_score(y[groups == g], x[groups == g, 0]))}
               for g in ("sarcasm", "emobank")}
    info = read_lens_info(folders["author"])
    info.shift = {**model, "fitted_on": {"settings": asdict(s), "emobank_gap_threshold": round(threshold, 4),
                                         "quality": quality}}
    info = stamp(folders["author"], info)
    print(f"shift weights {model}\n{json.dumps(quality, indent=2)}\nauthor lens -> {info.version}", flush=True)
    return {"model": model, "quality": quality, "version": info.version}


if __name__ == "__main__":
    main()
