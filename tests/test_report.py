"""gan-lab compare: run discovery, aggregation over seeds (checked against statistics.mean/stdev), best
marking, a self-contained HTML page, the CLI, and a headless-Chromium rendering of the page.

The fake runs use the real on-disk format: a composed train config saved by OmegaConf (with Hydra's
unresolvable ``${hydra:runtime.output_dir}`` left in, as Hydra writes it), metrics.jsonl lines written by
the training callback's own writer, and sample grids written by gan_lab.imaging.
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
import shutil
import statistics
import subprocess

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from gan_lab.records import append_jsonl
from gan_lab.imaging import make_grid, save_image
from gan_lab.report.aggregate import (best_configurations, compare, curve, direction, final_stats, per_class)
from gan_lab.report.html import render, write_html
from gan_lab.report.runs import RunDirError, discover_runs
from gan_lab.report.svg import nice_ticks
from tests.conftest import TINY, compose

NAN = float("nan")
# Final evaluations per (configuration, seed); softmax seed 2 never finished: its last periodic (step 20) counts.
FINAL = {
    "aam": [dict(fid_clf=1.0, kid_clf=0.1, gan_test=0.5, confidence_score=0.4, pca=[1.0, 0.5, NAN]),
            dict(fid_clf=2.0, kid_clf=0.2, gan_test=0.6, confidence_score=None, pca=[0.0, 0.5, 1.0]),
            dict(fid_clf=4.0, kid_clf=0.15, gan_test=0.9, confidence_score=0.6, pca=[0.5, 0.5, 1.0])],
    "softmax": [dict(fid_clf=3.0, kid_clf=0.3, gan_test=0.7, confidence_score=0.5, pca=[0.2, 0.2, 0.2]),
                dict(fid_clf=5.0, kid_clf=0.25, gan_test=0.8, confidence_score=0.5, pca=[0.4, 0.4, 0.4]),
                None],
}
PERIODIC_FID = {"aam": [(10.0, 8.0), (12.0, 9.0), (14.0, 6.0)], "softmax": [(11.0, 9.0), (13.0, 8.0), (15.0, 7.0)]}
PERIODIC_GAN_TEST = 0.75  # every periodic evaluation


def _record(step, kind, fid, gan_test, conf, pca, kid=None):
    """A record shaped like PeriodicEvaluation writes it (provenance keys and bookkeeping included)."""
    rec = {"step": step, "kind": kind, "fid_clf": fid, "fid_clf_backbone": "eval-classifier:abc", "n_fake": 64,
           "n_real": 539}
    if kid is not None:
        rec.update(kid_clf=kid, kid_clf_std=0.01, kid_clf_backbone="eval-classifier:abc")
    rec.update(gan_test=gan_test, gan_test_classifier="eval-classifier:abc", gan_train=gan_test - 0.1,
               confidence_score=conf, per_class_accuracy=pca, scores_classifier="eval-classifier:abc")
    if kind == "final":
        rec.update(task_fid_clf=NAN, task_fid_clf_pairs=0)
    rec.update(classifier_test_accuracy=0.9, eval_seed=0, eval_seconds=0.1)
    return rec


@pytest.fixture(scope="module")
def base_configs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cfg")
    out = {}
    for name, overrides in {"aam": ["head=aam", "head.margin=0.5"], "softmax": ["head=softmax"]}.items():
        cfg = compose([*TINY, *overrides], tmp / "out", tmp / "cache")
        cfg.paths.output_dir = "${hydra:runtime.output_dir}"  # as Hydra saves it
        out[name] = cfg
    return out


def make_runs(root, base_configs):
    """root/multirun/<date>/<time>/{0..5}: aam seeds 0-2, then softmax seeds 0-2."""
    sweep = root / "multirun" / "2024-01-01" / "12-00-00"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    job = 0
    for name in ("aam", "softmax"):
        for seed in range(3):
            d = sweep / str(job)
            cfg = base_configs[name].copy()
            cfg.seed = seed
            (d / ".hydra").mkdir(parents=True)
            OmegaConf.save(cfg, d / ".hydra" / "config.yaml")
            (d / ".hydra" / "overrides.yaml").write_text(f"- head={name}\n- seed={seed}\n")
            p10, p20 = PERIODIC_FID[name][seed]
            pca = [0.5, 0.5, 0.5]
            append_jsonl(d / "metrics.jsonl", _record(10, "periodic", p10, PERIODIC_GAN_TEST, 0.3, pca))
            append_jsonl(d / "metrics.jsonl", _record(20, "periodic", p20, PERIODIC_GAN_TEST, 0.3, pca))
            f = FINAL[name][seed]
            if f is not None:
                append_jsonl(d / "metrics.jsonl", _record(30, "final", f["fid_clf"], f["gan_test"],
                                                          f["confidence_score"], f["pca"], kid=f["kid_clf"]))
            g = torch.Generator().manual_seed(job)
            for step in (10, 30 if f is not None else 20):
                grid = make_grid(torch.rand(4, 3, 1, 8, 8, generator=g) * 2 - 1)
                save_image(grid, d / "samples" / f"step_{step:06d}.png", upscale=4)
            job += 1
    return sweep


@pytest.fixture
def runs_root(tmp_path, base_configs):
    make_runs(tmp_path / "outputs", base_configs)
    return tmp_path / "outputs"


def summary_values(name, key):
    """The numbers each seed contributes to the table, computed from the inputs (not the code under test)."""
    vals = []
    for seed, f in enumerate(FINAL[name]):
        if f is None:
            vals.append({"fid_clf": PERIODIC_FID[name][seed][1], "gan_test": PERIODIC_GAN_TEST,
                         "confidence_score": 0.3}.get(key))
        else:
            vals.append(f[key])
    return [v for v in vals if v is not None and not math.isnan(v)]


def test_discovery_finds_every_sweep_job(runs_root):
    runs = discover_runs([runs_root])
    assert len(runs) == 6
    assert [r.seed for r in runs] == [0, 1, 2, 0, 1, 2]
    assert [r.has_final for r in runs] == [True] * 5 + [False]
    assert runs[5].summary["step"] == 20 and runs[5].summary["kind"] == "periodic"
    assert [s for s, _ in runs[0].samples] == [10, 30]
    # Hydra's own interpolation cannot be resolved outside Hydra: kept as text, not a crash
    assert runs[0].config["paths.output_dir"] == "${hydra:runtime.output_dir}"
    # a run found twice (its sweep and itself) is loaded once
    assert len(discover_runs([runs_root, runs[0].path])) == 6


def test_aggregation_mean_std_and_best(runs_root):
    cmp = compare(discover_runs([runs_root]))
    assert len(cmp.configs) == 2
    aam, soft = cmp.configs
    assert aam.label["head.name"] == "aam" and soft.label["head.name"] == "softmax"
    # head.margin, head.scale, ... exist only for aam (one value each): they follow from head.name
    assert aam.label_text == "head.name=aam" and cmp.differing == ["head.name"]
    for c, name in ((aam, "aam"), (soft, "softmax")):
        for m in ("fid_clf", "gan_test", "confidence_score", "kid_clf"):
            expected = summary_values(name, m)
            s = final_stats(c, m)
            assert s.n == len(expected), (name, m)
            assert s.mean == pytest.approx(statistics.mean(expected), abs=1e-12)
            if len(expected) > 1:
                assert s.std == pytest.approx(statistics.stdev(expected), abs=1e-12)  # ddof = 1
    assert final_stats(aam, "fid_clf").std == pytest.approx(math.sqrt(7 / 3))  # by hand: (1, 2, 4)
    assert final_stats(soft, "kid_clf").n == 2  # the unfinished run has no final-only metric
    assert final_stats(aam, "confidence_score").n == 2  # JSON null counts as missing, not as 0
    assert best_configurations(cmp.configs, "fid_clf") == {aam.index}  # 2.33 < 5, lower is better
    assert best_configurations(cmp.configs, "gan_test") == {soft.index}  # 0.75 > 0.667, higher is better
    assert best_configurations(cmp.configs, "kid_clf") == {aam.index}
    assert best_configurations(cmp.configs, "classifier_test_accuracy") == set()  # a reference: never ranked
    assert "task_fid_clf" in cmp.empty_metrics and "task_fid_clf" not in cmp.metrics
    assert cmp.references == ["classifier_test_accuracy"]
    assert "kid_clf_std" not in cmp.metrics and "n_fake" not in cmp.metrics and "step" not in cmp.metrics
    # curves: mean over seeds per step; step 30 has the final points of the finished runs only
    c = {s: (m, n, f) for s, m, n, f in curve(soft, "fid_clf")}
    assert c[10] == (pytest.approx(statistics.mean([11.0, 13.0, 15.0])), 3, False)
    assert c[30] == (pytest.approx(4.0), 2, True)
    pc = per_class(aam)
    assert [s.n for s in pc] == [3, 3, 2]
    assert pc[0].mean == pytest.approx(0.5) and pc[2].mean == pytest.approx(1.0)
    assert pc[1].std == pytest.approx(0.0)


def test_direction_table():
    assert direction("fid_clf") == direction("kid") == direction("intra_fid_clf") == direction("task_fid_clf") == "min"
    assert direction("gan_test") == direction("gan_train") == "max"
    assert direction("accuracy_score") is None  # no longer recorded (it was GAN-test): an old record's column is unranked
    assert direction("lambda_cls_in_use") is None  # the head weight: a reference, never ranked
    assert direction("confidence_score") == "max"
    assert direction("gan_train_real_reference") is None and direction("eval_seconds") is None
    assert direction("psnr") == direction("glare/ssim") == "max" and direction("plain/lmse") == "min"


def test_group_metrics_get_their_own_table(tmp_path, base_configs):
    """Albedo-style records ("psnr" beside "<tag>/psnr", counts n_<tag>): breakdowns go to a second table."""
    for name, psnr in (("aam", 20.0), ("softmax", 25.0)):
        d = tmp_path / name
        (d / ".hydra").mkdir(parents=True)
        OmegaConf.save(base_configs[name], d / ".hydra" / "config.yaml")
        append_jsonl(d / "metrics.jsonl", {"step": 5, "kind": "final", "psnr": psnr, "glare/psnr": psnr - 3,
                                           "n_glare": 4, "n_eval": 8})
    cmp = compare(discover_runs([tmp_path]))
    assert cmp.metrics == ["psnr", "glare/psnr"]
    assert best_configurations(cmp.configs, "glare/psnr") == {1}  # higher PSNR is better
    page = render(cmp)
    assert '<table id="group-metrics">' in page and 'data-metric="glare/psnr"' in page
    assert "n_glare" not in page and page.count("<svg") == 0


def test_ignore_merges_configurations(runs_root):
    runs = discover_runs([runs_root])
    assert len(compare(runs, ignore=["head"]).configs) == 1
    assert compare(runs, ignore=["head"]).differing == []


def test_html_is_self_contained_with_table_curves_and_samples(runs_root, tmp_path):
    cmp = compare(discover_runs([runs_root]))
    page = write_html(cmp, tmp_path / "r" / "report.html", sources=[str(runs_root)]).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert '<table id="final-metrics">' in page and '<table id="per-class">' in page
    assert page.count("<svg") >= 3  # fid_clf, gan_test, gan_train, confidence_score have >= 2 steps
    assert page.count('src="data:image/png;base64,') == 2  # one grid per configuration
    aam, soft = cmp.configs
    best_fid = re.search(rf'<td class="best" data-metric="fid_clf" data-config="{aam.index}"[^>]*>([^<]*)', page)
    assert best_fid and best_fid.group(1).startswith("2.333") and "★" in best_fid.group(1)
    assert re.search(rf'<td class="best" data-metric="gan_test" data-config="{soft.index}"', page)
    assert not re.search(rf'<td class="best" data-metric="fid_clf" data-config="{soft.index}"', page)
    assert "periodic only †" in page and "±" in page


def test_empty_states_and_large_samples_downscaled(tmp_path, base_configs):
    d = tmp_path / "run"
    (d / ".hydra").mkdir(parents=True)
    OmegaConf.save(base_configs["aam"], d / ".hydra" / "config.yaml")
    (d / "samples").mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1500, 2000, 3), dtype=np.uint8)).save(
        d / "samples" / "step_000100.png")
    cmp = compare(discover_runs([d]))
    page = render(cmp)
    assert "No evaluations recorded" in page and "No per-class accuracy" in page and "No curves" in page
    assert any("no evaluations recorded" in w for w in cmp.warnings)
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert max(Image.open(io.BytesIO(base64.b64decode(uri))).size) == 640


def test_unreadable_metrics_line_is_skipped_with_a_warning(runs_root):
    path = next(runs_root.rglob("metrics.jsonl"))
    with open(path, "a") as f:
        f.write('{"step": 40, "kind": "fin')  # a run killed mid-write
    runs = discover_runs([runs_root])
    run = next(r for r in runs if r.path == path.parent)
    assert len(run.records) == 3 and run.summary["step"] == 30
    assert any("unreadable line" in w and str(path) in w for w in compare(runs).warnings)


def test_path_without_runs_is_one_clear_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RunDirError, match=r"no runs under .*empty"):
        discover_runs([tmp_path / "empty"])
    with pytest.raises(RunDirError, match="does not exist"):
        discover_runs([tmp_path / "nope"])


def test_cli_compare(runs_root, tmp_path, capsys):
    from gan_lab.cli import main

    out = tmp_path / "report.html"
    main(["compare", f"runs={runs_root}", f"out={out}"])
    assert "<svg" in out.read_text()
    printed = capsys.readouterr().out
    assert "6 runs (5 with a final evaluation) in 2 configurations" in printed and str(out) in printed
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["compare", f"runs={runs_root},{tmp_path / 'empty'}", f"out={tmp_path / 'x.html'}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gan-lab compare: error: no runs under") and str(tmp_path / "empty") in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "x.html").exists()


def test_nice_ticks_cover_the_range():
    for lo, hi in ((0.1562, 0.1719), (1.3, 1.36), (5, 20), (-3.2, 7.9), (2.0, 2.0)):
        t = nice_ticks(lo, hi)
        assert t[0] <= min(lo, hi) and t[-1] >= max(lo, hi) and 2 <= len(t) <= 7


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def _pixels_near(arr: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(arr.astype(int) - rgb).max(axis=2) <= tol).sum())


def test_page_renders_in_headless_chromium(runs_root, tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium not found (chromium / chromium-browser / google-chrome); .ci/run installs it")
    page = write_html(compare(discover_runs([runs_root])), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    # --no-sandbox: the page is our own local file, and the sandbox cannot start as root or in many containers
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1280,2000", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 0 and shot.is_file(), f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (2000, 1280)
    assert img.std() > 10, "screenshot is blank"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 100, "screenshot has too few colours"
    # rendered, not just present in the source: the best-cell green of the metrics table (≈27,000 pixels
    # here, 0 without the table), and both configurations' line colours, which the SVG curves bring from
    # ≈770 pixels (the 12×12 colour swatches alone) to ≈2,000-2,900
    assert _pixels_near(img, "#dafbe1", 2) > 5000, "the metrics table's best cells are not visible"
    assert _pixels_near(img, "#4e79a7") > 1300 and _pixels_near(img, "#f28e2b") > 1300, "curves not drawn"


def test_markdown_table_has_the_same_numbers(runs_root, tmp_path):
    from gan_lab.cli import main

    md = tmp_path / "table.md"
    main(["compare", f"runs=[{runs_root}]", f"out={tmp_path / 'r.html'}", f"markdown={md}"])
    lines = md.read_text().splitlines()
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    assert header[:2] == ["configuration", "seeds"] and "fid_clf" in header and "gan_test" in header
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in lines[2:]}
    aam = rows["head.name=aam"]
    fid = summary_values("aam", "fid_clf")
    # aam has the best (lowest) fid_clf: bold, mean ± ddof-1 std, as computed independently
    assert aam[header.index("fid_clf")] == f"**{statistics.mean(fid):.3f} ± {statistics.stdev(fid):.3f}**"
    soft = next(v for k, v in rows.items() if k.startswith("head.name=softmax"))
    gt = summary_values("softmax", "gan_test")
    assert soft[header.index("gan_test")] == f"**{statistics.mean(gt):.3f} ± {statistics.stdev(gt):.3f}**"
    assert soft[header.index("kid_clf")].endswith("(n=2)")  # the unfinished run has no final-only metric
    assert not aam[header.index("classifier_test_accuracy")].startswith("**")  # references are never ranked


def test_identical_values_have_zero_spread():
    from gan_lab.report.aggregate import stat

    s = stat([0.9907235621521335] * 3)  # a fixed reference accuracy: its mean carries rounding error
    assert s.std == 0.0 and s.n == 3


def test_training_curves_average_the_seeds_and_curves_follow_the_selection_split(tmp_path, base_configs):
    from gan_lab.report.aggregate import training_curve

    sweep = make_runs(tmp_path / "outputs", base_configs)
    gps = {0: [0.9, 0.2], 1: [0.7, 0.1], 2: [0.8, 0.3]}  # aam seeds: train/gp at steps 10 and 20
    for seed, (a, b) in gps.items():
        d = sweep / str(seed)
        append_jsonl(d / "train_metrics.jsonl", {"step": 10, "train/gp": a, "train/d_adv": 0.1})
        append_jsonl(d / "train_metrics.jsonl", {"step": 20, "train/gp": b, "train/d_adv": 0.2})
        append_jsonl(d / "train_metrics.jsonl", {"step": 20, "kind": "diagnostics", "geometry/cos_target_real": 0.5})
        append_jsonl(d / "train_metrics.jsonl", {"step": 30, "kind": "diagnostics",
                                                 "geometry/cos_target_real": 0.6 + 0.1 * seed})
    # A final_val record (val split) at the last step: the curve takes it instead of the test-split final.
    append_jsonl(sweep / "0" / "metrics.jsonl", {**_record(30, "final_val", 99.0, 0.75, 0.3, [0.5] * 3), "split": "val"})
    cmp = compare(discover_runs([tmp_path / "outputs"]))
    aam = next(c for c in cmp.configs if c.runs[0].config["head.name"] == "aam")
    got = training_curve(aam, "train/gp")
    assert [(s, n) for s, _, n, _ in got] == [(10, 3), (20, 3)]
    assert got[0][1] == pytest.approx(statistics.mean([0.9, 0.7, 0.8]))
    assert got[1][1] == pytest.approx(statistics.mean([0.2, 0.1, 0.3]))
    fid = {s: (m, n) for s, m, n, _ in curve(aam, "fid_clf")}
    seeds12_final = [FINAL["aam"][1]["fid_clf"], FINAL["aam"][2]["fid_clf"]]
    assert fid[30] == (pytest.approx(statistics.mean([99.0, *seeds12_final])), 3)  # seed 0: its val point
    html = render(cmp)
    assert "Critic, gradients and label geometry" in html and ">train/gp<" in html and ">train/d_adv<" in html
    # beside the scores: each seed's last diagnostics (0.6, 0.7, 0.8), mean ± sample std
    from gan_lab.report.aggregate import final_geometry

    g = final_geometry(aam, "geometry/cos_target_real")
    assert g.n == 3 and g.mean == pytest.approx(0.7) and g.std == pytest.approx(0.1)
    assert "Scores and label geometry" in html and "<td>0.7 ± 0.1</td>" in html


def test_keys_only_some_configurations_have_follow_from_the_name():
    from gan_lab.report.aggregate import Configuration, _differing

    def cfgs(*dicts):
        return [Configuration(index=i, config=d, runs=[]) for i, d in enumerate(dicts)]

    soft = {"head.name": "softmax", "seed": 0}
    aam3, aam5 = ({"head.name": "aam", "head.margin": m, "head.scale": 16.0} for m in (0.3, 0.5))
    keys = ["head.margin", "head.name", "head.scale"]
    assert _differing(cfgs(soft, aam3), keys) == ["head.name"]
    assert _differing(cfgs(soft, aam3, aam5), keys) == ["head.margin", "head.name"]
    # two configurations told apart only by a key one of them lacks: it is shown
    assert _differing(cfgs({"a": 1}, {"a": 1, "b": 2}), ["a", "b"]) == ["b"]
