"""A non-editable ``pip install .`` must run ``gan-lab train`` from any directory: conf/ ships as data files
(<prefix>/share/gan_lab/conf) and gan_lab.config finds it there when no source tree is beside the package."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from gan_lab.config import find_conf_dir

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_file_is_shipped_by_the_wheel():
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    patterns = [p for globs in data_files.values() for p in globs]
    yamls = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "conf").rglob("*.yaml"))
    missing = [y for y in yamls if not any(fnmatch.fnmatch(y, p) and y.count("/") == p.count("/") for p in patterns)]
    assert yamls and not missing, f"not shipped by a non-editable install: {missing}"
    for target, globs in data_files.items():  # each file lands in the same relative folder under share/gan_lab
        for g in globs:
            assert target == "share/gan_lab/" + str(Path(g).parent)


def test_conf_dir_source_tree_then_installed_copy_then_env(tmp_path, monkeypatch):
    import gan_lab.config as config

    assert find_conf_dir(env="") == ROOT / "conf"  # a checkout / editable install
    installed = tmp_path / "share" / "gan_lab" / "conf"
    installed.mkdir(parents=True)
    (installed / "train.yaml").write_text("task_name: train\n")
    fake_pkg = tmp_path / "site-packages" / "gan_lab" / "config.py"  # no conf/ beside an installed package
    monkeypatch.setattr(config, "__file__", str(fake_pkg))
    assert find_conf_dir(env="", prefix=str(tmp_path)) == installed
    assert find_conf_dir(env=str(tmp_path / "mine")) == tmp_path / "mine"
