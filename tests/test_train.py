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


def test_a_full_fine_tune_saves_the_whole_encoder_and_reads_like_a_lens(tmp_path):
    # The reference that bounds what a compact adapter could reach (docs/evaluation.md): it must
    # load through the same LensSet as any lens, so jobs.evaluate measures it by the same protocol.
    train([f"--out_dir={tmp_path}", "--limit=16", "--max_steps=2", "--batch_size=8", "--lenses=author",
           "--scales=false", "--full_finetune=true", "--lr=5e-5", "--tune_bias=false"])
    from safetensors.torch import load_file
    weights = load_file(tmp_path / "author" / "adapter.safetensors")
    assert "encoder.layer.5.output.dense.weight" in weights and not any(k.startswith("pooler.") for k in weights)
    assert not any("lora_" in k for k in weights)
    info = json.loads((tmp_path / "author" / "lens.json").read_text())
    assert info["adapter"]["full_finetune"] is True
    probs = LensSet({"author": tmp_path / "author"}).predict(["thank you so much!", "ok"])["author"]
    assert probs.shape == (2, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_settings_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="unknown setting --learning_rate"):
        S.parse(Settings, ["--learning_rate=1"])
    with pytest.raises(ValueError, match="--epochs=two: expected float"):
        S.parse(Settings, ["--epochs=two"])
    with pytest.raises(ValueError, match="--lenses=writer: expected a comma-separated subset"):
        S.parse(Settings, ["--lenses=writer"])
    with pytest.raises(ValueError, match="--reader_text=tweets"):
        S.parse(Settings, ["--reader_text=tweets"])
    with pytest.raises(ValueError, match=r"--sarcasm_background=-1: expected 0 or more lines"):
        S.parse(Settings, ["--sarcasm_background=-1"])


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


def test_length_grouped_batches_cover_each_example_once_with_little_padding():
    from echoroom.lenses.tasks import LengthGroupedBatches

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 200, size=1003)
    batches = LengthGroupedBatches(lengths, batch_size=8, seed=13, window=10)
    first, second = list(batches), list(batches)
    assert len(first) == len(batches) == 1003 // 8
    for epoch in (first, second):
        seen = [i for b in epoch for i in b]
        assert all(len(b) == 8 for b in epoch) and len(set(seen)) == len(seen) == 125 * 8
    assert first != second  # a new draw each epoch, so batches are not replayed in the same order

    def padding(epoch):
        return sum(8 * lengths[b].max() for b in epoch) / sum(lengths[b].sum() for b in epoch)

    shuffled = rng.permutation(1003)[:1000].reshape(-1, 8)
    assert padding(first) < 1.15 < 1.5 < padding(shuffled)
    # the same seed gives the same batches: training stays reproducible
    assert list(LengthGroupedBatches(lengths, batch_size=8, seed=13, window=10)) == first


def test_emoji_only_examples_repeat_each_emoji_bearing_example_with_its_targets():
    from echoroom.lenses.tasks import with_emoji_only

    texts = ["thanks so much ❤️", "no emoji here", "haha 😂 that was 😂 good 👍🏻"]
    targets = np.eye(3, dtype=np.float32)
    out_texts, out_targets = with_emoji_only(texts, targets)
    assert out_texts == texts + ["❤️", "😂😂👍🏻"]  # the skin tone stays with its emoji
    np.testing.assert_array_equal(out_targets, targets[[0, 1, 2, 0, 2]])
    assert with_emoji_only(["plain"], targets[:1])[0] == ["plain"]
