"""Every command over a table of bad values: exit status 2, one line on stderr naming the key, no traceback,
nothing half-written. Runs the CLI in-process (gan_lab.cli.main), so a row costs what its check costs."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import TINY, compose


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from gan_lab.train import train

    out = tmp_path_factory.mktemp("bad_values_run")
    train(compose([*TINY, "logger=none", "eval.every_n_steps=0", "eval.final_metrics=[gan_test]",
                   "samples.every_n_steps=0"], out, tmp_path_factory.getbasetemp() / "eval_cache"))
    return out / "checkpoints" / "last.ckpt"


def _compare_dir(tmp_path, ckpt, kind: str):
    """A run directory with one defect: a step that is not a number, or a config that is not YAML."""
    run = tmp_path / "cmp" / kind
    (run / ".hydra").mkdir(parents=True)
    from omegaconf import OmegaConf

    if kind == "null_step":  # the run's own config, as Hydra would have saved it
        cfg = torch.load(ckpt, map_location="cpu", weights_only=True)["gan_lab_config"]
        OmegaConf.save(OmegaConf.create(cfg), run / ".hydra" / "config.yaml")
    else:
        (run / ".hydra" / "config.yaml").write_text("seed: [1, 2\n  bad: : yaml\n")
    (run / "metrics.jsonl").write_text(json.dumps({"step": None, "kind": "final", "gan_test": 0.5}) + "\n")
    return run


# (command words with {ckpt}/{tmp} placeholders, text the one line must contain)
TABLE = [
    (["train", "trainer.max_steps=abc"], "trainer.max_steps='abc' is invalid"),
    (["train", "trainer.max_steps=-5"], "trainer.max_steps=-5 is invalid"),
    (["train", "seed=abc"], "seed='abc' is invalid"),
    (["train", "seed=-1"], "seed=-1 is invalid"),
    (["train", "head=aam", "head.margin=abc"], "head.margin='abc' is invalid"),
    (["train", "head.margin=0.3"], "head.margin is not a key of this configuration"),
    (["train", "trainer.devices=abc"], "trainer.devices='abc' is invalid"),
    (["train", "model.optim.g_lr=fast"], "model.optim.g_lr='fast' is invalid"),
    (["train", "no_such_key=1"], "no_such_key is not a key of this configuration"),
    (["train", "head=nope"], "Could not find 'head/nope'"),
    (["train", "model.generator.conv_dim=16", "ckpt_path={ckpt}", "hydra.run.dir={tmp}/resume"],
     "was trained with dataset.image_size=16, this configuration has dataset.image_size=32"),
    (["eval", "ckpt_path={ckpt}", "device=cuda:7"], "device=cuda:7"),
    (["eval", "ckpt_path={ckpt}", "device=gpu0"], "device='gpu0' is not a device"),
    (["eval", "ckpt_path={ckpt}", "split=foo"], "split='foo' is invalid"),
    (["eval", "ckpt_path={ckpt}", "n_samples=abc"], "n_samples='abc' is invalid"),
    (["eval", "ckpt_path={ckpt}", "bootstrap=-3"], "bootstrap=-3 is invalid"),
    (["eval", "ckpt_path={ckpt}", "sanity=maybe"], "sanity='maybe' is invalid"),
    (["eval", "ckpt_path={tmp}/none.ckpt"], "no such checkpoint file"),
    (["eval", "ckpt_path={ckpt}", "output={tmp}"], "is a directory"),
    (["eval", "ckpt_path={ckpt}", "metrics=[fid_clf,fdi]"], "metrics='fdi' is not a known metric"),
    (["albedo-eval", "ckpts={ckpt}", "n=4"], "not an albedo translator"),
    (["albedo-eval", "device=cuda"], "device=cuda but this machine has no CUDA device"),
    (["translate", "ckpt_path={ckpt}", "input={tmp}", "target=0", "output={tmp}/out", "device=cuda"], "device=cuda"),
    (["extract-albedo", "ckpt_path={ckpt}", "input={tmp}", "output={tmp}/out", "device=tpu"], "device='tpu'"),
    (["compare", "runs={tmp}/cmp/bad_yaml"], "is not readable YAML"),
    (["compare", "runs={tmp}/nowhere"], "does not exist"),
]


@pytest.mark.parametrize("words, message", TABLE, ids=[" ".join(w[:2]) + "|" + m[:24] for w, m in TABLE])
def test_a_bad_value_is_one_line_and_exit_2(words, message, ckpt, tmp_path, capsys, monkeypatch):
    from gan_lab.cli import main

    if torch.cuda.is_available() and "cuda" in " ".join(words):
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    _compare_dir(tmp_path, ckpt, "bad_yaml")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = [w.format(ckpt=ckpt, tmp=tmp_path) for w in words]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert len(err) == 1 and err[0].startswith(f"gan-lab {words[0]}: error: ") and message in err[0], err
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # nothing written, not even an empty output directory


def test_compare_skips_a_record_with_a_null_step_with_a_warning(ckpt, tmp_path, capsys):
    from gan_lab.cli import main

    run = _compare_dir(tmp_path, ckpt, "null_step")
    main(["compare", f"runs={run}", f"out={tmp_path / 'r.html'}"])
    out = capsys.readouterr().out
    assert "step None is not an integer, record skipped" in out and (tmp_path / "r.html").is_file()


def _png(path, value: int, size: int = 8):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), value).save(path)


def test_data_that_cannot_train_is_refused_before_step_0(tmp_path, cache_dir):
    """One class, a class too small to reach val and test, a corrupt image anywhere, a batch larger than the
    data: each one line before step 0, naming the class, file or key."""
    from gan_lab.data import build_datamodule
    from gan_lab.errors import CorruptImageError
    from gan_lab.registry import ConfigError
    from gan_lab.train import train

    def folder(root):
        return build_datamodule({"name": "folder", "root": str(root), "image_size": 8, "channels": 1})

    one = tmp_path / "one"
    for i in range(6):
        _png(one / "cat" / f"{i}.png", i * 20)
    with pytest.raises(ConfigError, match=r"1 class \(cat\); a class-conditional GAN needs at least 2"):
        folder(one).setup()

    small = tmp_path / "small"
    for c in ("a", "b"):
        for i in range(10):
            _png(small / c / f"{i}.png", i * 20)
    _png(small / "rare" / "0.png", 255)
    with pytest.raises(ConfigError, match=r"class 'rare' has no image in the (val|test) split \(1 image\(s\) in all\)"):
        folder(small).setup()

    bad = tmp_path / "bad"
    for c in ("a", "b"):
        for i in range(10):
            _png(bad / c / f"{i}.png", i * 20)
    (bad / "b" / "7.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(CorruptImageError, match="7.png"):
        folder(bad).setup()  # found at setup, whatever split it landed in

    with pytest.raises(ConfigError, match=r"dataset.batch_size=100000 is larger than the training split"):
        train(compose([*TINY, "logger=none", "dataset.batch_size=100000"], tmp_path / "run", cache_dir))


def test_the_judge_is_retrained_when_any_image_changes(tmp_path):
    """The evaluation-classifier cache key hashes every sample: editing one image in the middle changes it."""
    from torch.utils.data import TensorDataset

    from gan_lab.metrics.classifier import data_fingerprint

    x, y = torch.zeros(300, 1, 4, 4), torch.arange(300) % 3
    a = data_fingerprint(TensorDataset(x, y))
    x2 = x.clone()
    x2[157, 0, 2, 2] = 0.5  # not the first, middle or last sample
    assert data_fingerprint(TensorDataset(x2, y)) != a and data_fingerprint(TensorDataset(x.clone(), y)) == a
    y2 = y.clone()
    y2[202] = 0  # was 1
    assert data_fingerprint(TensorDataset(x, y2)) != a
