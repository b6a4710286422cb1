"""Training runs for real on a tiny subset: the loss falls, the lenses save and load."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from echoroom import settings as S
from echoroom.lenses.model import LensSet
from jobs.train import Settings
from jobs.train import main as train

ROOT = Path(__file__).resolve().parent.parent


def test_a_few_steps_on_a_tiny_subset_lower_the_loss(tmp_path):
    result = train([f"--out_dir={tmp_path}", "--limit=48", "--max_steps=36", "--epochs=30",
                    "--batch_size=16", "--log_every=6", "--lr=3e-3", "--head_lr=1e-2", "--tune_bias=false",
                    "--reader_epochs=30", "--scales=false"])  # the emotion heads alone: scales below
    log = result["log"]
    for lens in ("author", "reader"):
        first, last = log[0][f"loss_{lens}"], log[-1][f"loss_{lens}"]
        assert last < 0.7 * first, (lens, first, last)
    lenses = LensSet({n: tmp_path / n for n in ("author", "reader")})
    assert len(lenses.groups) == 1  # one adapter, one encoder pass for both lenses
    probs = lenses.predict(["thank you so much!", "ok"])
    for p in probs.values():
        assert p.shape == (2, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    info = json.loads((tmp_path / "author" / "lens.json").read_text())
    assert info["settings"]["max_steps"] == 36 and info["version"].startswith("author-")


def test_settings_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown setting --learning_rate"):
        S.parse(Settings, ["--learning_rate=1"])
    with pytest.raises(ValueError, match="--epochs=two: expected float"):
        S.parse(Settings, ["--epochs=two"])
    with pytest.raises(ValueError, match="--lenses=writer: expected a comma-separated subset"):
        S.parse(Settings, ["--lenses=writer"])
    with pytest.raises(ValueError, match="--reader_text=tweets"):
        S.parse(Settings, ["--reader_text=tweets"])


@pytest.mark.slow
def test_launches_under_accelerate_with_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "jobs.train", f"--out_dir={tmp_path}", "--limit=32", "--max_steps=4", "--batch_size=8",
           "--log_every=2", "--lenses=author", "--scales=false"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train: 2 process(es)" in done.stdout
    assert (tmp_path / "author" / "lens.json").is_file()
