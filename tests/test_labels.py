"""The label mapping covers every source label, in code, in the data and in the docs."""

from pathlib import Path

import polars as pl
import pytest

from echoroom.labels import (
    DAILYDIALOG_LABELS,
    DAILYDIALOG_MAP,
    EMPATHETIC_MAP,
    GOEMOTIONS_LABELS,
    GOEMOTIONS_MAP,
    ID2LABEL,
    LABEL2ID,
    LABELS,
    TO_DAILYDIALOG,
    map_dailydialog,
    map_empathetic,
    map_goemotions,
)
from echoroom.lenses import data as D

DOCS = Path(__file__).resolve().parent.parent / "docs" / "labels.md"


def test_one_ordered_list_everything_derived():
    assert LABELS == ("joy", "anger", "sadness", "fear", "surprise", "disgust", "love", "gratitude", "neutral", "pride")
    assert [ID2LABEL[LABEL2ID[x]] for x in LABELS] == list(LABELS)


def test_every_goemotions_label_is_mapped_or_dropped_with_a_reason():
    assert set(GOEMOTIONS_MAP) == set(GOEMOTIONS_LABELS) and len(GOEMOTIONS_LABELS) == 28
    for target, reason in GOEMOTIONS_MAP.values():
        assert target is None or target in LABELS
        assert reason


def test_every_empathetic_emotion_is_mapped_or_dropped_with_a_reason():
    assert len(EMPATHETIC_MAP) == 32
    for target, reason in EMPATHETIC_MAP.values():
        assert target is None or target in LABELS
        assert reason


def test_every_dailydialog_class_maps_to_one_of_ours_and_back():
    assert set(DAILYDIALOG_MAP) == set(DAILYDIALOG_LABELS) and len(DAILYDIALOG_LABELS) == 7
    for target, reason in DAILYDIALOG_MAP.values():
        assert target in LABELS and reason
    # Evaluation reads each of our labels as one DailyDialog class; each class's own target reads back as it.
    assert set(TO_DAILYDIALOG) == set(LABELS) and set(TO_DAILYDIALOG.values()) == set(DAILYDIALOG_LABELS)
    assert all(TO_DAILYDIALOG[target] == name for name, (target, _) in DAILYDIALOG_MAP.items())
    assert [map_dailydialog(i) for i in range(7)] == ["neutral", "anger", "disgust", "fear", "joy", "sadness",
                                                      "surprise"]
    with pytest.raises(KeyError, match="DailyDialog emotion code 7 is not 0..6"):
        map_dailydialog(7)


def test_dailydialog_reads_as_chat_and_keeps_validation_apart():
    assert D.detokenize("Say , Jim , how about going for a few beers after dinner ?") == \
        "Say, Jim, how about going for a few beers after dinner?"
    assert D.detokenize("It ' s late . I don ' t know ( really ) !") == "It's late. I don't know (really)!"
    train, dev = D.dailydialog("train"), D.dailydialog("dev")
    assert set(train["dialog_id"]).isdisjoint(set(dev["dialog_id"]))
    assert (dev["dialog_id"] % D.DAILYDIALOG_DEV_EVERY == 0).all()
    capped = D.dailydialog("train", neutral_cap=1000, seed=1)
    assert (capped["label"] == "neutral").sum() == 1000
    assert len(capped.filter(capped["label"] != "neutral")) == len(train.filter(train["label"] != "neutral"))
    with pytest.raises(ValueError, match="unknown DailyDialog split 'test'"):
        D.dailydialog("test")


def test_the_data_uses_no_label_outside_the_tables():
    root = D.data_dir()
    emotions = (root / "goemotions" / "emotions.txt").read_text().split()
    assert tuple(emotions) == GOEMOTIONS_LABELS
    for split in ("train", "valid", "test"):
        contexts = pl.read_parquet(root / "empatheticdialogues" / f"{split}.parquet")["context"].unique().to_list()
        assert set(contexts) <= set(EMPATHETIC_MAP), set(contexts) - set(EMPATHETIC_MAP)
    for split in ("train", "validation"):
        codes = pl.read_parquet(root / "dailydialog" / f"{split}.parquet")["emotion"].unique().to_list()
        assert set(codes) <= set(range(len(DAILYDIALOG_LABELS))), codes


def test_policies():
    assert map_goemotions(["annoyance", "anger"], "fold") == ["anger"]
    assert map_goemotions(["annoyance", "anger"], "drop") == ["anger"]
    assert map_goemotions(["amusement"], "drop") == []
    assert map_goemotions(["approval"], "fold") == []
    assert map_empathetic("terrified") == "fear" and map_empathetic("nostalgic") is None
    with pytest.raises(ValueError, match="unknown label policy 'merge'"):
        map_goemotions(["joy"], "merge")
    with pytest.raises(KeyError, match="'bliss' is not in the mapping table"):
        map_goemotions(["bliss"])


def test_docs_table_lists_every_source_label_with_its_target():
    text = DOCS.read_text()
    for table in (GOEMOTIONS_MAP, EMPATHETIC_MAP, DAILYDIALOG_MAP):
        for name, (target, _) in table.items():
            assert f"| {name} | {target or 'dropped'} |" in text, name


def test_data_dir_error_names_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="Set ECHOROOM_DATA"):
        D.data_dir(tmp_path)


def test_targets_are_distributions():
    df = D.goemotions("dev", policy="drop")
    sums = df["target"].list.sum()
    assert ((sums - 1).abs() < 1e-5).all()
    reader = D.reader_data("dev", neutral_fraction=0.2)
    share = (reader["label"] == "neutral").mean()
    assert abs(share - 0.2) < 0.01
