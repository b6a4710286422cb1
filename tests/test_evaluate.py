"""The evaluation job reproduces the committed metrics on its fixed sample."""

import json
from pathlib import Path

import pytest

from jobs.evaluate import main as evaluate

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "evaluation" / "sample" / "metrics.json"


def test_evaluation_reproduces_committed_sample_metrics(tmp_path):
    committed = json.loads(COMMITTED.read_text())
    s = committed["settings"]
    got = evaluate([f"--sample={s['sample']}", "--baselines=false", "--figures=false", "--model_cards=false",
                    f"--out_dir={tmp_path}"])
    assert got["versions"] == committed["versions"], "lenses changed: re-run the sample evaluation (docs/evaluation.md)"
    for lens in ("author", "reader"):
        n = got[lens]["n"]
        assert n == committed[lens]["n"]
        # one example may flip on a near tie between CPUs with other vector units
        assert got[lens]["accuracy"] == pytest.approx(committed[lens]["accuracy"], abs=1.01 / n)
        assert got[lens]["macro_f1"] == pytest.approx(committed[lens]["macro_f1"], abs=0.02)
        assert got[lens]["ece"] == pytest.approx(committed[lens]["ece"], abs=0.01)
    dd, want = got["reader"]["dailydialog_validation"], committed["reader"]["dailydialog_validation"]
    assert dd["n"] == want["n"] and dd["macro_f1"] == pytest.approx(want["macro_f1"], abs=0.02)
    assert set(got["emoji_lines"]) and all(set(said) == {"author", "reader"} for said in got["emoji_lines"].values())
    assert (tmp_path / "metrics.json").is_file()
    # the scale heads and the shift score, on their own fixed samples
    for split, key in (("emobank_dev", "author_valence_r"), ("emobank_dev", "reader_valence_r"),
                       ("sarcasm_dev", "auc")):
        assert got["scales"][split][key] == pytest.approx(committed["scales"][split][key], abs=0.02)
    assert got["shift"]["sarcasm_dev"]["auc_shift_score"] == pytest.approx(
        committed["shift"]["sarcasm_dev"]["auc_shift_score"], abs=0.02)
    # the intervals the bars are read with (docs/evaluation.md): around their own point estimates
    q, sd = got["scales"]["sarcasm_dev"], got["shift"]["sarcasm_dev"]
    assert q["auc_interval95"][0] < q["auc"] < q["auc_interval95"][1]
    gain = sd["auc_shift_score"] - sd["auc_js_divergence"]
    assert sd["auc_gain_over_js_interval95"][0] < gain < sd["auc_gain_over_js_interval95"][1]
    flagged = got["shift"]["goemotions_test_flagged"]
    assert sum(flagged["kind_share"].values()) == pytest.approx(1.0)
    by_label = flagged["shifted_by_label"]
    assert sum(v["n"] for v in by_label.values()) == flagged["n"]
    assert sum(v["n"] * v["shifted"] for v in by_label.values()) == pytest.approx(flagged["now_shifted"] * flagged["n"])
    assert 0 <= by_label["neutral"]["mean_sarcasm"] <= 1
