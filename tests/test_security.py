"""Files gan_lab opens never run code: checkpoints load weights only, CIFAR pickles admit numpy arrays only.

A pickle names callables to rebuild its objects; ``os.system`` is a callable. Each test writes a file whose
unpickling would create a marker file through ``os.system``, and checks gan_lab refuses it with one clear
error and the marker never appears.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch


class Evil:
    """Unpickling it runs a shell command (creates ``path``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_malicious_checkpoint_is_refused_not_run(tmp_path):
    from gan_lab.checkpoints import CorruptCheckpointError, load_checkpoint

    marker = tmp_path / "ran"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Evil(marker)}, ckpt)  # a valid zip container
    with pytest.raises(CorruptCheckpointError, match="refused"):
        load_checkpoint(ckpt)
    assert not marker.exists()


def test_the_cli_refuses_a_malicious_checkpoint_in_one_line(tmp_path, capsys):
    from gan_lab.cli import main

    marker = tmp_path / "ran"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "gan_lab_config": Evil(marker)}, ckpt)
    for argv in (["eval", f"ckpt_path={ckpt}"], ["translate", f"ckpt_path={ckpt}", f"input={tmp_path}", "target=0",
                                                  f"output={tmp_path / 'out'}"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "refused" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_gan_lab_checkpoints_load_weights_only(tmp_path):
    """What gan_lab writes (tensors, numbers, strings, nested dicts and lists) loads with weights_only=True."""
    from gan_lab.checkpoints import AtomicCheckpointIO, load_checkpoint

    state = {"state_dict": {"w": torch.ones(2)}, "rng_states": {"numpy": ["MT19937", torch.arange(3), 1, 0, 0.0]},
             "gan_lab_config": {"model": {"name": "x", "widths": [1, 2]}, "seed": None}}
    path = tmp_path / "ok.ckpt"
    AtomicCheckpointIO().save_checkpoint(state, path)
    assert load_checkpoint(path)["gan_lab_config"] == state["gan_lab_config"]
    assert AtomicCheckpointIO().load_checkpoint(path)["rng_states"]["numpy"][0] == "MT19937"


def test_a_malicious_cifar_file_is_refused_not_run(tmp_path):
    from gan_lab.data.cifar100 import read_pickle
    from gan_lab.errors import CorruptImageError

    marker = tmp_path / "ran"
    path = tmp_path / "train"
    path.write_bytes(pickle.dumps({b"data": Evil(marker), b"fine_labels": [0]}, protocol=2))
    with pytest.raises(CorruptImageError, match="refused"):
        read_pickle(path, (b"data", b"fine_labels"))
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_the_restricted_unpickler_reads_the_official_layout(tmp_path, protocol):
    from gan_lab.data.cifar100 import read_pickle

    rows = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "test"
    path.write_bytes(pickle.dumps({b"data": rows, b"fine_labels": [3, 7], b"coarse_labels": [1, 2],
                                   b"filenames": [b"a.png", b"b.png"]}, protocol=protocol))
    d = read_pickle(path, (b"data", b"fine_labels"))
    assert np.array_equal(d[b"data"], rows) and d[b"fine_labels"] == [3, 7]


def test_no_unrestricted_loading_in_the_package():
    """No torch.load(..., weights_only=False) and no bare pickle.load anywhere in gan_lab/."""
    import re

    import gan_lab

    root = os.path.dirname(gan_lab.__file__)
    unsafe = re.compile(r"torch\.load\([^)]*weights_only\s*=\s*False|(?<![\w.])pickle\.loads?\(|Unpickler\(")
    offenders = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py") and name != "safe_pickle.py":  # the restricted unpickler itself
                for line in open(os.path.join(dirpath, name), encoding="utf-8"):
                    if unsafe.search(line):
                        offenders.append(f"{name}: {line.strip()}")
    assert offenders == [], offenders
    assert unsafe.search("torch.load(p, weights_only=False)") and unsafe.search("d = pickle.load(f)")
    assert not unsafe.search("safe_pickle.load(f)")
