"""The label mapping covers every source label, in code, in the data and in the docs."""

from pathlib import Path

import polars as pl
import pytest

from echoroom.labels import (
    EMPATHETIC_MAP,
    GOEMOTIONS_LABELS,
    GOEMOTIONS_MAP,
    ID2LABEL,
    LABEL2ID,
    LABELS,
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


def test_the_data_uses_no_label_outside_the_tables():
    root = D.data_dir()
    emotions = (root / "goemotions" / "emotions.txt").read_text().split()
    assert tuple(emotions) == GOEMOTIONS_LABELS
    for split in ("train", "valid", "test"):
        contexts = pl.read_parquet(root / "empatheticdialogues" / f"{split}.parquet")["context"].unique().to_list()
        assert set(contexts) <= set(EMPATHETIC_MAP), set(contexts) - set(EMPATHETIC_MAP)


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
    for table in (GOEMOTIONS_MAP, EMPATHETIC_MAP):
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
