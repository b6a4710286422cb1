"""Kinds of shift and the shift score: one formula in Python and in SQL, and the data behind them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from echoroom import store
from echoroom.labels import LABELS, dailydialog_set
from echoroom.lenses import data as D
from echoroom.lenses import shift
from echoroom.lenses.calibration import calibrate
from echoroom.lenses.tasks import emotion_loss

MODEL = {"bias": -2.0, "js_divergence": 3.0, "differ": 0.7, "abs_valence_gap": 1.5, "sarcasm": 2.5}


def test_kinds_name_how_the_top_emotions_differ():
    assert shift.kind("joy", "joy") == "none"
    assert shift.kind("love", "neutral") == "tone_lost"
    assert shift.kind("neutral", "anger") == "tone_added"
    assert shift.kind("joy", "anger") == "misread"
    assert shift.kind("neutral", "neutral") == "none"


@pytest.mark.parametrize("model", [MODEL, None], ids=["fitted", "no weights"])
def test_sql_and_python_give_the_same_kind_and_score(tmp_path, model):
    rng = np.random.default_rng(0)
    author, reader = rng.dirichlet(np.full(10, 0.3), 40), rng.dirichlet(np.full(10, 0.3), 40)
    gap = rng.normal(0, 1, 40)
    sarcasm = rng.random(40)
    gap[3], sarcasm[5] = np.nan, np.nan  # a lens without that scale: NULL in SQL, 0 in the score
    want = shift.score(shift.features(author, reader, gap, sarcasm), model)
    con = store.connect(tmp_path / "db.duckdb")
    for i in range(40):
        got, kind = con.execute(
            "SELECT shift_score(js_divergence($a::FLOAT[10], $r::FLOAT[10]), $a::FLOAT[10], $r::FLOAT[10], "
            "$gap, $sarcasm, $model::JSON), shift_kind($ae, $re)",
            {"a": author[i].astype(np.float32).tolist(), "r": reader[i].astype(np.float32).tolist(),
             "gap": None if np.isnan(gap[i]) else float(gap[i]),
             "sarcasm": None if np.isnan(sarcasm[i]) else float(sarcasm[i]),
             "model": json.dumps(model) if model else None,
             "ae": LABELS[author[i].argmax()], "re": LABELS[reader[i].argmax()]}).fetchone()
        assert got == pytest.approx(want[i], abs=1e-5)
        assert kind == shift.kind(LABELS[author[i].argmax()], LABELS[reader[i].argmax()])
    con.close()


def test_score_grows_with_each_piece_of_evidence():
    base = np.array([[0.1, 0.0, 0.0, 0.0]])
    for k in range(4):
        more = base.copy()
        more[0, k] += 1.0
        assert shift.score(more, MODEL)[0] > shift.score(base, MODEL)[0]
    assert 0 < shift.score(base, MODEL)[0] < 1


def test_fit_balances_sources_and_classes():
    rng = np.random.default_rng(1)
    x = rng.random((400, 4))
    y = (x[:, 3] > 0.7).astype(int)  # only sarcasm matters here
    model = shift.fit(x, y, np.array(["a"] * 200 + ["b"] * 200))
    assert model["sarcasm"] > 5 * max(abs(model[f]) for f in shift.FEATURES if f != "sarcasm")


def test_any_of_loss_rewards_the_summed_probability():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0, 0.0, 0.0, 1.0, 0.3, 0.0, 0.1]])
    one = torch.zeros(1, 10)
    one[0, 2] = 1.0
    weights = torch.ones(10)
    # one allowed label: the same as cross-entropy
    assert emotion_loss(logits, one, weights, any_of=True) == pytest.approx(
        emotion_loss(logits, one, weights, any_of=False).item())
    happy = torch.zeros(1, 10)
    for label in dailydialog_set("happiness"):
        happy[0, LABELS.index(label)] = 0.25
    p = torch.softmax(logits, -1)[0]
    want = -torch.log(sum(p[LABELS.index(x)] for x in ("joy", "love", "gratitude", "pride")))
    assert emotion_loss(logits, happy, weights, any_of=True).item() == pytest.approx(want.item(), rel=1e-5)


def test_calibration_counts_any_allowed_label_as_right():
    targets = np.zeros((2, 10), np.float32)
    for label in dailydialog_set("happiness"):
        targets[0, LABELS.index(label)] = 0.25
    targets[1, LABELS.index("anger")] = 1.0
    logits = np.full((2, 10), -3.0)
    logits[0, LABELS.index("love")] = 3.0   # happiness read as love: right
    logits[1, LABELS.index("anger")] = 3.0
    assert calibrate(logits, targets, any_of=True, with_bias=False)["dev"]["accuracy"] == 1.0
    assert calibrate(logits, targets, any_of=False, with_bias=False)["dev"]["accuracy"] == 0.5


def test_dailydialog_happiness_is_a_set_of_four():
    assert dailydialog_set("happiness") == ("joy", "love", "gratitude", "pride")
    assert dailydialog_set("no emotion") == ("neutral",)
    with pytest.raises(KeyError, match="'joy' is not one of"):
        dailydialog_set("joy")
    dd = D.reader_data("dev", sources=("dailydialog",), dailydialog_target="any_of")
    happy = dd.filter(dd["context"] == "joy")
    assert len(happy) and all(x == ["joy", "love", "gratitude", "pride"] for x in happy["labels"].to_list())
    assert np.allclose(np.array(happy["target"].to_list()).sum(1), 1.0)
    as_joy = D.reader_data("dev", sources=("dailydialog",), dailydialog_target="joy")
    assert set(map(tuple, as_joy["labels"].to_list())) <= {(x,) for x in LABELS}


def test_sarcasm_splits_are_fixed_disjoint_and_rephrases_train_only():
    splits = {name: D.sarcasm(name) for name in ("train", "tune", "dev")}
    posts = {name: set(df.filter(df["source"] == "post")["id"].to_list()) for name, df in splits.items()}
    assert not (posts["train"] & posts["dev"]) and not (posts["train"] & posts["tune"]) \
        and not (posts["tune"] & posts["dev"])
    assert sum(map(len, posts.values())) == 3467  # every non-empty post, once
    assert set(splits["dev"]["source"].to_list()) == {"post"}
    rephrases = splits["train"].filter(splits["train"]["source"] == "rephrase")
    assert len(rephrases) > 500 and set(rephrases["sarcastic"].to_list()) == {0}
    assert D.sarcasm("dev")["id"].to_list() == splits["dev"]["id"].to_list()  # the same split every time
    with pytest.raises(ValueError, match="expected train, tune or dev"):
        D.sarcasm("test")


def test_sarcasm_background_is_seeded_everyday_training_text_marked_not_sarcastic():
    lines = D.sarcasm_background(201, seed=13)
    assert len(lines) == 201 and set(lines["sarcastic"].to_list()) == {0}
    assert lines["source"].value_counts().sort("source").rows() == [("dailydialog", 100), ("goemotions", 101)]
    assert lines["id"].n_unique() == 201
    assert lines.equals(D.sarcasm_background(201, seed=13))  # a seeded choice: the same run, the same lines
    assert not lines.equals(D.sarcasm_background(201, seed=14))
    # only training splits: nothing that an evaluation reads
    chat = set(lines.filter(lines["source"] == "dailydialog")["id"].to_list())
    assert chat <= set(D.dailydialog("train")["id"].to_list())
    comments = {i.removeprefix("ge-") for i in lines.filter(lines["source"] == "goemotions")["id"].to_list()}
    for held in ("dev", "test"):
        assert not comments & set(D.goemotions(held)["id"].to_list())


def test_emobank_has_both_perspectives_and_no_test_split():
    dev = D.emobank("dev")
    assert len(dev) == 1000 and {"writer_V", "reader_V", "writer_A", "reader_A"} <= set(dev.columns)
    assert dev["writer_V"].min() >= 1 and dev["reader_V"].max() <= 5
    with pytest.raises(ValueError, match="test split is reserved"):
        D.emobank("test")
