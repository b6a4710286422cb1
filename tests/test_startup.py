"""Start-up: the light commands never import torch, `echoroom predict` reads without transformers,
and the lenses as read (``Bert``, the tokenizer from tokenizer.json) give what transformers gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from echoroom.lenses import default_lens_folders
from echoroom.lenses.model import AdapterConfig, Bert, LensSet, load_encoder, merge_lora, resolve_encoder
from echoroom.lenses.reading import Reader, one_thread
from echoroom.lenses.text import prepare

ROOT = Path(__file__).resolve().parent.parent
# Runs the CLI in-process, then prints which heavy packages it imported.
HEAVY = ("torch", "transformers", "sklearn", "scipy", "polars", "duckdb", "altair")
CHECK = ("import sys\nfrom echoroom.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
         f"print('IMPORTED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
# Lengths, padding, truncation, emoji, accents, CJK, marks, ligatures, special tokens typed as text.
TEXTS = ["thanks so much", "oh great, another meeting, love it", "x", "Café déjà vu 😂😂 ❤️", "你好 world",
         "I ʟᴏᴠᴇ ᴛʜɪs", "Ünïcödé ÀÉÎ straße", "ﬁne e\u0301 \u200bzero width", "[CLS] [SEP] [PAD] typed",
         "word " * 300, "I am furious, this is the third time they've lied to me!", "x"]


def imported(*args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHECK, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.rsplit("IMPORTED ", 1)[1].replace("'", '"'))


@pytest.mark.parametrize("args", [["--help"], ["sql", "--list"]])
def test_light_commands_never_import_torch(args):
    assert not {"torch", "transformers"} & set(imported(*args))


def test_predict_imports_torch_alone(lens_root):
    # transformers' model classes alone cost more CPU than the whole command may take (3 s).
    assert imported("predict", "--lenses", str(lens_root), "thanks so much") == ["torch"]


def transformers_encoder(folder: Path) -> torch.nn.Module:
    """The reference: the lens's encoder as training builds it (AutoModel with LoRA layers), merged."""
    info = json.loads((folder / "lens.json").read_text())
    _, encoder = load_encoder(info["encoder"], AdapterConfig(**{**info["adapter"], "targets": tuple(
        info["adapter"]["targets"])}))
    adapter = {k: v.float() for k, v in load_file(folder / "adapter.safetensors").items()}
    assert not encoder.load_state_dict(adapter, strict=False).unexpected_keys
    return merge_lora(encoder).eval()


def test_lenses_read_as_transformers_does(lens_root):
    from transformers import AutoTokenizer

    folders = default_lens_folders(lens_root)
    lenses, reference = LensSet(folders), LensSet(folders)
    assert all(isinstance(m.encoder, Bert) for m in lenses.models)
    for model, names in zip(reference.models, reference.groups):
        model.encoder = transformers_encoder(folders[names[0]])
    got, want = lenses.predict(TEXTS, batch_size=4), reference.predict(TEXTS, batch_size=4)
    assert list(got) == lenses.outputs
    for name in got:
        np.testing.assert_allclose(got[name], want[name], atol=1e-6, rtol=0, err_msg=name)
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder(lenses.infos["author"].encoder))
    ids = tokenizer(prepare(TEXTS, lenses.text_prep), truncation=True, max_length=lenses.max_length)["input_ids"]
    assert Reader(lenses).tokenize(TEXTS)[0] == ids


def test_small_work_runs_on_one_thread_and_restores_the_count(lens_root):
    lenses, before = LensSet(default_lens_folders(lens_root)), torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    lenses.predict(["one line"])
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("config", [
    {"model_type": "roberta", "hidden_act": "gelu"},  # positions start after the padding id
    {"model_type": "bert", "hidden_act": "gelu_new"},
    {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "relative_key"}])
def test_bert_declines_encoders_it_does_not_compute_exactly(tmp_path, config):
    for name in ("model.safetensors", "tokenizer.json"):
        (tmp_path / name).write_text("")
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert Bert.load(tmp_path) is None
