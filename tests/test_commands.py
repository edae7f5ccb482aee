"""The command layer (gan_lab/commands/): every command prints usage on -h/--help and rejects an unknown
key with exit status 2 naming it; translate crops like training; synth does not import the data package;
one 8-bit quantisation per range; progress bars off a terminal log a bounded number of plain lines."""

from __future__ import annotations

import io
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab.cli import COMMANDS, main


def _run(argv, capsys, cwd) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``gan-lab ARGV``: train in a subprocess (Hydra's global state would
    leak into later tests), the others in this process (faster)."""
    if argv[0] == "train":
        r = subprocess.run([sys.executable, "-m", "gan_lab.cli", *argv], check=False, capture_output=True, text=True, cwd=cwd,
                           timeout=300)
        return r.returncode, r.stdout, r.stderr
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = 0 if e.code is None else e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_prints_usage(command, capsys, tmp_path):
    code, out, _ = _run([command, "--help"], capsys, tmp_path)
    assert code == 0 and out.startswith(f"usage: gan-lab {command}")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unknown_key_is_exit_2_naming_it(command, capsys, tmp_path):
    code, _, err = _run([command, "no_such_key=1"], capsys, tmp_path)
    assert code == 2 and "no_such_key" in err


def test_synth_does_not_import_the_data_package():
    code = "import sys, gan_lab.synth; print(sorted(m for m in sys.modules if m.startswith('gan_lab.data')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_quantize_ranges(tmp_path):
    from gan_lab.imaging import quantize_signed, quantize_unit, save_image

    x = torch.linspace(-1.2, 1.2, 101).view(1, 1, 101).expand(3, 4, 101)
    signed, unit = quantize_signed(x), quantize_unit(x)
    assert signed.min() == -1 and signed.max() == 1 and unit.min() == 0 and unit.max() == 1
    levels = (signed + 1) * 127.5  # on the 8-bit grid
    assert torch.allclose(levels, levels.round(), atol=1e-4) and torch.allclose(unit, (signed + 1) / 2, atol=1e-6)
    png = np.asarray(Image.open(save_image(x, tmp_path / "q.png")))
    assert np.array_equal(png.transpose(2, 0, 1), (unit * 255).round().byte().numpy())  # what a PNG holds


def test_translate_uses_the_training_centre_crop(tmp_path, monkeypatch):
    from gan_lab.commands import translate

    module = SimpleNamespace(channels=3, image_size=16, class_names=["a", "b"],
                             translate=lambda x, t: x)  # identity: the output is the model's input
    monkeypatch.setattr(translate, "load_translator", lambda ckpt_path, device: (module, None))
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))  # 40 wide, 24 high
    photo.save(tmp_path / "p.png")
    translate.run("unused.ckpt", str(tmp_path / "p.png"), "b", str(tmp_path / "out"))
    got = np.asarray(Image.open(tmp_path / "out" / "p.png")).astype(int)
    want = np.asarray(photo.crop((8, 0, 32, 24)).resize((16, 16), Image.BILINEAR)).astype(int)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1
    squashed = np.asarray(photo.resize((16, 16), Image.BILINEAR)).astype(int)
    assert np.abs(got - squashed).mean() > 10  # not the whole photo squashed to a square


def test_translate_keeps_inputs_apart_and_checks_every_input_first(tmp_path, monkeypatch):
    """x.png and x.jpg become x.png.png and x.jpg.png (not one overwriting the other); a corrupt file in the middle
    of a folder stops the command before any image is written; an output that is a file is refused."""
    from gan_lab.commands import translate
    from gan_lab.errors import CorruptImageError
    from gan_lab.registry import ConfigError

    module = SimpleNamespace(channels=3, image_size=8, class_names=["a", "b"], translate=lambda x, t: x)
    monkeypatch.setattr(translate, "load_translator", lambda ckpt_path, device: (module, None))
    src = tmp_path / "in"
    src.mkdir()
    for name, colour in (("x.png", (255, 0, 0)), ("x.jpg", (0, 0, 255)), ("y.png", (0, 255, 0))):
        Image.new("RGB", (8, 8), colour).save(src / name)
    written = translate.run("unused.ckpt", str(src), "b", str(tmp_path / "out"))
    assert sorted(p.name for p in written) == ["x.jpg.png", "x.png.png", "y.png"] == sorted(
        p.name for p in (tmp_path / "out").iterdir())
    (src / "w.png").write_bytes(b"\x89PNG broken")  # sorts between x.* and y.png
    with pytest.raises(CorruptImageError, match="w.png"):
        translate.run("unused.ckpt", str(src), "b", str(tmp_path / "out2"))
    assert not (tmp_path / "out2").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is an existing file"):
        translate.run("unused.ckpt", str(src), "b", str(tmp_path / "file"))


def test_progress_off_a_terminal_logs_few_plain_lines():
    from gan_lab.progress import progress

    log = io.StringIO()
    for _ in progress(range(5000), desc="x", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and 2 <= len(lines) <= 12 and lines[-1].startswith("x: 100%")


def test_training_bar_off_a_terminal_logs_few_plain_lines(monkeypatch):
    from gan_lab.callbacks.progress import StepProgressBar

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    trainer = SimpleNamespace(is_global_zero=True, max_steps=500, global_step=0,
                              callback_metrics={"d_loss": torch.tensor(0.5)}, progress_bar_metrics={})
    pl_module = SimpleNamespace(progress_keys=("d_loss",))
    bar = StepProgressBar(refresh_every=1)
    bar.on_train_start(trainer, pl_module)
    for step in range(1, 501):
        trainer.global_step = step
        bar.on_train_batch_end(trainer, pl_module, None, None, step)
    bar.on_train_end(trainer, pl_module)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) <= 12 and "d_loss=0.500" in lines[-1]
