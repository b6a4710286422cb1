"""The committed lenses: compact, loadable, and right on sentences whose emotion is not in doubt."""

import re
from pathlib import Path

import numpy as np
import pytest

from echoroom.labels import LABELS, TO_DAILYDIALOG
from echoroom.lenses import DEFAULT_LENSES_DIR, default_lens_folders
from echoroom.lenses.folder import read_lens_info
from echoroom.lenses.model import LensSet

CLEAR = {
    "Thank you so much for your help, I really appreciate it!": "gratitude",
    "Thanks a lot, that was really kind of you.": "gratitude",
    "I love you so much, you mean the world to me.": "love",
    "I'm so scared, I think someone is trying to break into my house.": "fear",
    "I am furious, this is the third time they've lied to me!": "anger",
    "My dog died this morning and I can't stop crying.": "sadness",
    "The meeting is moved to room 4 at 3pm.": "neutral",
}


@pytest.fixture(scope="module")
def lenses():
    return LensSet(default_lens_folders())


def test_committed_lenses_are_compact():
    size = sum(p.stat().st_size for p in Path(DEFAULT_LENSES_DIR).rglob("*") if p.is_file())
    assert size < 15 * 1024 * 1024, size
    for folder in default_lens_folders().values():
        assert (folder / "MODEL_CARD.md").is_file() and (folder / "metrics.json").is_file()
        assert read_lens_info(folder).labels == list(LABELS)
    card = (DEFAULT_LENSES_DIR / "reader" / "MODEL_CARD.md").read_text()
    assert "CC BY-NC 4.0" in card
    # the author lens shares its adapter with the reader lens, so it inherits the reader data's terms
    author = (DEFAULT_LENSES_DIR / "author" / "MODEL_CARD.md").read_text()
    assert re.search(r"Licence: non-commercial.*EmpatheticDialogues, CC BY-NC 4.0.*CC BY-NC-SA 4.0", author, re.S)


def author_card(folder: Path, **changes) -> str:
    """The author lens's MODEL_CARD.md rendered from the committed metrics, its LensInfo changed."""
    import dataclasses
    import json

    from jobs.evaluate import model_cards

    metrics = json.loads((Path(__file__).parents[1] / "docs" / "evaluation" / "metrics.json").read_text())
    info = dataclasses.replace(read_lens_info(DEFAULT_LENSES_DIR / "author"), **changes)
    model_cards({"author": folder}, metrics, {"author": info}, {"author": "author-test"}, shared=False, sample=0)
    return (folder / "MODEL_CARD.md").read_text()


def test_model_card_names_the_sarcasm_background(tmp_path):
    settings = read_lens_info(DEFAULT_LENSES_DIR / "author").settings
    card = author_card(tmp_path, settings={**settings, "sarcasm_background": 1000})
    assert "1000 everyday lines as non-sarcastic" in card
    assert "The adapter also learnt from DailyDialog (CC BY-NC-SA 4.0)" in card


def test_model_card_of_a_full_fine_tune_does_not_call_it_an_adapter(tmp_path):
    adapter = read_lens_info(DEFAULT_LENSES_DIR / "author").adapter
    card = author_card(tmp_path, adapter={**adapter, "full_finetune": True})
    assert "a reference run, not a compact lens" in card and "LoRA r=" not in card
    assert "(`head.safetensors`, fp16).\n- Calibration" in card


def test_both_lenses_read_unambiguous_sentences(lenses):
    probs = lenses.predict(list(CLEAR))
    for name in ("author", "reader"):
        got = [LABELS[i] for i in probs[name].argmax(1)]
        if name == "reader":
            # The reader lens learns DailyDialog's one positive class as "any of joy, love, gratitude,
            # pride" and tells them apart poorly (docs/labels.md): it is held to the right class of
            # DailyDialog's 7 (a thank-you read as pride is positive; read as neutral or anger, wrong).
            got = [TO_DAILYDIALOG[g] for g in got]
            want_of = {t: TO_DAILYDIALOG[w] for t, w in CLEAR.items()}
        else:
            want_of = CLEAR
        wrong = [(t, want_of[t], g) for t, g in zip(CLEAR, got) if want_of[t] != g]
        assert len(wrong) <= 1, (name, wrong)
        assert np.allclose(probs[name].sum(1), 1, atol=1e-5)


def test_multi_label_sets_are_ordered_and_never_empty(lenses):
    probs = lenses.predict(["haha thanks, I love it but I'm also a bit scared"])
    for name in lenses.names:
        labels = lenses.label_sets(name, probs[name])[0]
        assert labels and all(l in LABELS for l in labels)
        row = probs[name][0]
        ranks = [row[LABELS.index(l)] for l in labels]
        assert ranks == sorted(ranks, reverse=True)  # most probable first
        th = lenses.infos[name].thresholds
        above = [l for i, l in enumerate(LABELS) if row[i] >= th[i]]
        assert set(labels) == (set(above) or {LABELS[row.argmax()]})


def test_missing_lens_folder_says_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m jobs.train"):
        LensSet({"author": tmp_path / "nowhere"})


def test_predict_command_shows_both_lenses(capsys):
    from echoroom.cli import main

    assert main(["predict", "Thank you so much for your help!"]) == 0
    out = capsys.readouterr().out
    assert "Thank you so much for your help!" in out
    assert "author  gratitude" in out and "reader " in out and "labels:" in out
    assert re.search(r"^  shift   (none|misread|tone_lost|tone_added) +score [01]\.\d\d   valence gap [+-]\d\.\d\d"
                     r"   sarcasm [01]\.\d\d$", out, re.M)
    assert re.search(r"^ +valence [1-5]\.\d\d  arousal [1-5]\.\d\d  sarcasm [01]\.\d\d$", out, re.M)
