"""The fast path (``Scorer(precision="bf16")``: the bf16 encoder) reads real lines as the fp32 path does,
within bf16's rounding, under the same lens versions; the job's default precision ("auto") picks it
where the hardware runs bf16 natively and records which precision it ran.

Tolerances: bf16 keeps 8 significant bits (relative rounding 2^-9 per value). Over the full
GoEmotions and EmpatheticDialogues test sets (4,702 messages, bench/fast_path.py) the largest
difference from fp32 was 0.011-0.012 in any probability (docs/scoring.md, "Fast path"); 0.03 allows
for other lines and CPUs while still failing on any real error (a wrong head, an unconverted
output, int8-like drift: up to 0.45 on the same sets). Scales are compared after dividing by their
range (valence and arousal span 1-5)."""

from __future__ import annotations

import numpy as np
import pytest

from echoroom.lenses import default_lens_folders
from echoroom.lenses.model import LensSet
from echoroom.scoring.scorer import BATCH_TOKENS, Bf16Encoder, Scorer, native_bf16, resolve_precision
from jobs import score as job

from helpers import assert_exactly_once, rows, write_corpus

LINES = [
    "oh great, another meeting, love it",
    "Thank you so much for helping me move this weekend!!",
    "I can't believe you forgot my birthday again.",
    "ok see you at 7",
    "my dog passed away this morning 😢",
    "WE WON THE FINAL 🎉🎉🎉",
    "honestly that movie was disgusting, walked out halfway",
    "I'm a bit nervous about the interview tomorrow",
]
PROB_TOLERANCE = 0.03


@pytest.fixture(scope="module")
def readings(lens_root):
    folders = default_lens_folders(lens_root)
    fp32 = Scorer(LensSet(folders))
    fast = Scorer(LensSet(folders), precision="bf16")
    return fp32, fast, fp32.read(LINES)[0], fast.read(LINES)[0]


def test_fast_path_runs_the_bf16_encoder(readings):
    fp32, fast, _, _ = readings
    assert all(isinstance(m.encoder, Bf16Encoder) for m in fast.lenses.models)
    assert not any(isinstance(m.encoder, Bf16Encoder) for m in fp32.lenses.models)


def test_fast_path_probabilities_are_fp32_within_bf16_rounding(readings):
    _, _, ref, out = readings
    for lens in ("author", "reader"):
        assert out[lens].dtype == np.float32 and out[lens].shape == (len(LINES), 10)
        np.testing.assert_allclose(out[lens].sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(out[lens], ref[lens], atol=PROB_TOLERANCE, err_msg=lens)
        # The top emotion is fp32's wherever fp32's own margin is wider than the tolerance.
        top2 = np.sort(ref[lens], 1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 2 * PROB_TOLERANCE
        assert (out[lens].argmax(1) == ref[lens].argmax(1))[clear].all(), lens


def test_fast_path_scales_are_fp32_within_bf16_rounding(readings):
    _, fast, ref, out = readings
    scales = [k for k in fast.lenses.outputs if k not in fast.lenses.names]
    for key in scales:
        span = 1.0 if key.endswith("sarcasm") else 4.0  # a probability, or a 1-5 rating
        np.testing.assert_allclose(out[key] / span, ref[key] / span, atol=PROB_TOLERANCE, err_msg=key)


def test_fast_path_is_the_same_lenses_under_the_same_versions(readings):
    fp32, fast, _, _ = readings
    assert (fp32.precision, fast.precision) == ("fp32", "bf16")
    assert fast.versions == fp32.versions == fp32.lenses.versions
    assert (fp32.batch_tokens, fast.batch_tokens) == (BATCH_TOKENS["fp32"], BATCH_TOKENS["bf16"])


def test_auto_precision_is_bf16_only_where_the_hardware_runs_it():
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    assert resolve_precision("auto", "cuda") == "bf16"
    assert resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(ValueError, match=r"precision='int8': expected one of \('auto', 'fp32', 'bf16'\)"):
        resolve_precision("int8")


def test_the_job_records_the_precision_it_ran_and_fp32_stays_an_option(tmp_path, lens_root):
    path = write_corpus(tmp_path / "c.parquet", 40)
    sql = "SELECT message_id, lens, emotion, probs FROM predictions ORDER BY message_id, lens"
    got = {}
    for precision in ("auto", "fp32"):
        db = tmp_path / f"{precision}.duckdb"
        job.main([f"--inputs={path}", f"--db={db}", f"--lenses={lens_root}", "--progress=false",
                  f"--precision={precision}"])
        assert rows(db, "SELECT settings->>'$.precision' FROM runs") == [(resolve_precision(precision),)]
        got[precision] = rows(db, sql)
    assert_exactly_once(tmp_path / "auto.duckdb", 40)
    auto, fp32 = got["auto"], got["fp32"]
    assert [r[:2] for r in auto] == [r[:2] for r in fp32]
    np.testing.assert_allclose(np.array([r[3] for r in auto]), np.array([r[3] for r in fp32]), atol=PROB_TOLERANCE)
