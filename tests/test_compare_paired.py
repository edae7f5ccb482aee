"""gan-lab compare: the paired comparison with a baseline, the sanity rows, bootstrap intervals and λ_cls.

Runs are written in the real on-disk format (a composed train config, metrics.jsonl lines written by the
records writer) with numbers whose answer is known: a configuration that is the baseline + 0.1 with small
per-seed noise must be "better"; random differences around 0 must be "no evidence"; a lower-is-better
metric flips the verdict. Every t statistic, p-value and interval is checked against scipy.stats.ttest_rel
on the test's own inputs, not against the code under test.
"""

from __future__ import annotations

import math
import re
import statistics

import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import stats

from gan_lab.records import append_jsonl
from gan_lab.registry import ConfigError
from gan_lab.report.aggregate import compare, curve, final_stats, metric_names
from gan_lab.report.html import render
from gan_lab.report.markdown import markdown_report
from gan_lab.report.paired import paired_test, verdict
from gan_lab.report.runs import discover_runs
from tests.conftest import TINY, compose

SEEDS = [0, 1, 2, 3, 4]
RNG = np.random.default_rng(25)
# Baseline (softmax) per seed: a large seed-to-seed spread, which pairing removes.
BASE = {"gan_test": 0.80 + 0.05 * RNG.standard_normal(5), "fid_clf": 10.0 + 1.5 * RNG.standard_normal(5),
        "kid_clf": 0.05 + 0.01 * RNG.standard_normal(5)}
# aam = baseline + 0.1 on gan_test and − 1 on fid_clf (lower is better), small per-seed noise; kid_clf: the null
NOISE = 0.01 * RNG.standard_normal(5)
AAM = {"gan_test": BASE["gan_test"] + 0.1 + NOISE, "fid_clf": BASE["fid_clf"] - 1.0 + 10 * NOISE,
       "kid_clf": BASE["kid_clf"] + np.array([0.004, -0.003, 0.002, -0.004, 0.0005])}
# cosface = worse on both (seeds 0-2 and 5 only; seed 3 stopped before its final evaluation)
COS_SEEDS = [0, 1, 2, 5]
COS = {"gan_test": np.append(BASE["gan_test"][:3] - [0.10, 0.12, 0.09], 0.5),
       "fid_clf": np.append(BASE["fid_clf"][:3] + [2.0, 2.3, 1.8], 20.0),
       "kid_clf": np.array([0.06, 0.05, math.nan, 0.07])}
LAMBDA = {"softmax": 1.0, "aam": 0.1875, "cosface": 0.1}
SANITY = {"identity": {"gan_test": 0.12, "fid_clf": 0.001, "kid_clf": 0.0},  # FID rewarding doing nothing
          "real": {"gan_test": 0.95, "fid_clf": 2.0, "kid_clf": 0.01}}


def final_record(values: dict, i: int, head: str, ci: bool = True) -> dict:
    rec = {"step": 30, "kind": "final", "split": "test", "n_fake": 64, "n_real": 539}
    for k, v in values.items():
        rec[k] = float(v[i])
        if ci and k != "kid_clf":
            rec.update({f"{k}_ci_lo": float(v[i]) - 0.02, f"{k}_ci_hi": float(v[i]) + 0.03})
    rec.update(fid_clf_backbone="eval-classifier:abc", classifier_test_accuracy=0.9, lambda_cls_in_use=LAMBDA[head],
               eval_seed=0, eval_seconds=0.1)
    return rec


def sanity_record(row: str, offset: float = 0.0) -> dict:
    return {"step": 30, "kind": "sanity", "split": "test", "row": row, "description": f"the {row} stand-in",
            **{k: v + offset for k, v in SANITY[row].items()}, "only_in_sanity": 5.0, "n_fake": 64,
            "classifier_test_accuracy": 0.9}


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cfg")
    out = {}
    for head in ("softmax", "aam", "cosface"):
        cfg = compose([*TINY, f"head={head}"], tmp / "out", tmp / "cache")
        cfg.paths.output_dir = "${hydra:runtime.output_dir}"  # as Hydra saves it
        out[head] = cfg
    return out


def write_run(root, cfg, head: str, seed: int, records: list[dict]):
    d = root / f"{head}-s{seed}"
    (d / ".hydra").mkdir(parents=True)
    cfg = cfg.copy()
    cfg.seed = seed
    OmegaConf.save(cfg, d / ".hydra" / "config.yaml")
    for rec in records:
        append_jsonl(d / "metrics.jsonl", rec)
    return d


@pytest.fixture(scope="module")
def root(tmp_path_factory, configs):
    """softmax and aam over seeds 0-4 (with sanity rows; identity missing in one run), cosface over 0-3 + 5."""
    root = tmp_path_factory.mktemp("runs")
    for seed in reversed(SEEDS):  # written out of seed order: pairing must go by seed, not by position
        for head, values in (("softmax", BASE), ("aam", AAM)):
            periodic = {"step": 20, "kind": "periodic", "split": "val", "gan_test": 0.5, "fid_clf": 30.0}
            rows = [sanity_record("identity", 0.001 * seed)] if not (head == "aam" and seed == 4) else []
            rows.append(sanity_record("real", 0.001 * seed))
            write_run(root, configs[head], head, seed, [periodic, final_record(values, seed, head), *rows])
    for i, seed in enumerate(COS_SEEDS):
        write_run(root, configs["cosface"], "cosface", seed, [final_record(COS, i, "cosface", ci=False)])
    write_run(root, configs["cosface"], "cosface", 3, [{"step": 20, "kind": "periodic", "gan_test": 0.9}])
    return root


def by_head(cmp, head):
    return next(c for c in cmp.configs if c.config["head.name"] == head)


def row_of(cmp, head, metric):
    vs = next(v for v in cmp.paired if v.config.config["head.name"] == head)
    return next(r for r in vs.rows if r.metric == metric), vs


# --- the statistics ---------------------------------------------------------------------------------------

def test_paired_test_matches_scipy_ttest_rel():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 8):
        a, b = rng.normal(size=n), rng.normal(size=n) + 0.3
        got = paired_test(list(a - b), "max")
        ref = stats.ttest_rel(a, b)
        lo, hi = ref.confidence_interval(0.95)
        assert got.n == n and got.mean == pytest.approx(float(np.mean(a - b)), abs=1e-12)
        assert got.t == pytest.approx(ref.statistic, rel=1e-9) and got.p == pytest.approx(ref.pvalue, rel=1e-9)
        assert (got.ci_lo, got.ci_hi) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
        assert got.verdict == ("better" if lo > 0 else "worse" if hi < 0 else "no evidence")


def test_verdict_follows_the_direction_and_needs_two_pairs():
    assert verdict(0.1, 0.3, "max") == "better" and verdict(0.1, 0.3, "min") == "worse"
    assert verdict(-0.3, -0.1, "max") == "worse" and verdict(-0.3, -0.1, "min") == "better"
    assert verdict(-0.1, 0.3, "max") == verdict(-0.1, 0.3, "min") == "no evidence"
    one = paired_test([0.5], "max")
    assert one.verdict == "too few pairs" and one.mean == 0.5 and math.isnan(one.p) and math.isnan(one.ci_lo)
    assert paired_test([], "min").verdict == "too few pairs"
    same = paired_test([0.25, 0.25, 0.25], "min")  # every seed moved exactly as much: a point interval
    assert (same.ci_lo, same.ci_hi, same.p, same.verdict) == (0.25, 0.25, 0.0, "worse")
    assert paired_test([0.0, 0.0], "max").verdict == "no evidence"
    with pytest.raises(ValueError):
        paired_test([1.0, 2.0], None)


# --- pairing runs by seed -----------------------------------------------------------------------------------

def test_known_answer_better_worse_and_null(root):
    cmp = compare(discover_runs([root]), baseline="head.name=softmax")
    assert cmp.baseline is by_head(cmp, "softmax")
    assert [vs.config.config["head.name"] for vs in cmp.paired] == ["aam", "cosface"]  # the baseline is not paired
    assert set(cmp.ranked) == {"gan_test", "fid_clf", "kid_clf"}  # lambda_cls_in_use and references are not tested

    g, _ = row_of(cmp, "aam", "gan_test")  # higher is better, +0.1 ± 0.01 on every seed
    ref = stats.ttest_rel(AAM["gan_test"], BASE["gan_test"])
    lo, hi = ref.confidence_interval(0.95)
    assert g.seeds == SEEDS and g.test.n == 5 and g.test.verdict == "better"
    assert g.test.mean == pytest.approx(statistics.mean(AAM["gan_test"] - BASE["gan_test"]), abs=1e-12)
    assert g.test.t == pytest.approx(ref.statistic, rel=1e-9) and g.test.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert g.test.p < 1e-4 and g.test.ci_lo == pytest.approx(lo) and g.test.ci_hi == pytest.approx(hi)
    assert 0 < g.test.ci_lo < 0.1 < g.test.ci_hi
    # an unpaired test of the same numbers is far weaker: pairing by seed is what the t statistic used
    assert stats.ttest_ind(AAM["gan_test"], BASE["gan_test"]).pvalue > 100 * g.test.p

    f, _ = row_of(cmp, "aam", "fid_clf")  # lower is better: −1 is "better", with a negative interval
    ref = stats.ttest_rel(AAM["fid_clf"], BASE["fid_clf"])
    assert f.test.verdict == "better" and f.test.ci_hi < 0 and f.test.mean == pytest.approx(-1.0, abs=0.2)
    assert f.test.p == pytest.approx(ref.pvalue, rel=1e-9)

    k, _ = row_of(cmp, "aam", "kid_clf")  # the null: differences of both signs around 0
    ref = stats.ttest_rel(AAM["kid_clf"], BASE["kid_clf"])
    assert k.test.verdict == "no evidence" and k.test.ci_lo < 0 < k.test.ci_hi
    assert ref.pvalue > 0.05 and k.test.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_unpaired_seeds_are_dropped(root):
    cmp = compare(discover_runs([root]), baseline="head.name=softmax")
    g, vs = row_of(cmp, "cosface", "gan_test")
    # cosface has finals for seeds 0, 1, 2, 5; its seed 3 stopped early; the baseline has 0-4
    assert g.seeds == [0, 1, 2] and vs.only_config == [5] and vs.only_baseline == [3, 4]
    assert any("seed 3" in n and "no final evaluation" in n for n in vs.left_out)
    ref = stats.ttest_rel(COS["gan_test"][:3], BASE["gan_test"][:3])
    assert g.test.p == pytest.approx(ref.pvalue, rel=1e-9) and g.test.verdict == "worse"
    assert g.values == pytest.approx(list(COS["gan_test"][:3]))
    assert g.baseline_values == pytest.approx(list(BASE["gan_test"][:3]))
    f, _ = row_of(cmp, "cosface", "fid_clf")  # higher FID: worse, the interval above 0
    assert f.test.verdict == "worse" and f.test.ci_lo > 0
    k, _ = row_of(cmp, "cosface", "kid_clf")  # seed 2's kid is NaN: 2 pairs left
    assert k.seeds == [0, 1] and k.test.n == 2


def test_too_few_pairs(tmp_path, configs):
    for head, seeds in (("softmax", [0, 1]), ("aam", [1, 2])):
        for s in seeds:
            write_run(tmp_path, configs[head], head, s, [{"step": 5, "kind": "final", "gan_test": 0.5 + 0.1 * s}])
    cmp = compare(discover_runs([tmp_path]), baseline="head.name=softmax")
    g, vs = row_of(cmp, "aam", "gan_test")
    assert g.seeds == [1] and g.test.verdict == "too few pairs" and g.test.mean == pytest.approx(0.0)
    assert vs.only_config == [2] and vs.only_baseline == [0]


def test_baseline_selection(root):
    runs = discover_runs([root])
    cmp = compare(runs)
    soft, aam = by_head(cmp, "softmax"), by_head(cmp, "aam")
    assert compare(runs, baseline=str(soft.index)).baseline.index == soft.index
    assert compare(runs, baseline=aam.label_text).baseline.index == aam.index  # the label as printed
    assert compare(runs, baseline=" head.name=aam ").baseline.index == aam.index
    assert compare(runs, baseline="head.name=aam,head.scale=16.0").baseline.index == aam.index
    assert compare(runs, baseline="head.name=aam head.scale=16").baseline.index == aam.index  # 16 == 16.0
    assert compare(runs, baseline="head.margin=<missing>").baseline.index == soft.index  # softmax has no margin
    for bad, msg in (("head.name=arcface", "matches no configuration"), ("7", "there are 3 configurations"),
                     ("dataset.name=digits", "matches 3 configurations"),
                     ("head.nme=aam", "no configuration has the key"), ("sanity: identity", "is not key=value"),
                     ("", "baseline= is empty")):
        with pytest.raises(ConfigError, match=re.escape(msg)):
            compare(runs, baseline=bad)


# --- sanity rows --------------------------------------------------------------------------------------------

def test_sanity_records_are_not_the_runs_numbers(root, tmp_path):
    runs = discover_runs([root])
    run = next(r for r in runs if r.config["head.name"] == "softmax" and r.seed == 0)
    assert run.final["kind"] == "final" and run.summary is run.final and set(run.sanity) == {"identity", "real"}
    assert len(run.evaluations) == 2 and len(run.records) == 4
    # a run whose final line was lost (killed while writing) but whose sanity lines survived: the summary is
    # its last periodic evaluation, never a sanity row
    lost = tmp_path / "lost"
    (lost / ".hydra").mkdir(parents=True)
    (lost / ".hydra" / "config.yaml").write_text((run.path / ".hydra" / "config.yaml").read_text())
    append_jsonl(lost / "metrics.jsonl", {"step": 20, "kind": "periodic", "gan_test": 0.5})
    append_jsonl(lost / "metrics.jsonl", sanity_record("identity"))
    lone = discover_runs([lost])[0]
    assert lone.final is None and lone.summary["kind"] == "periodic"

    cmp = compare(runs)
    assert "only_in_sanity" not in metric_names(runs)[0] and "only_in_sanity" not in cmp.metrics
    soft = by_head(cmp, "softmax")
    # the curve's point at step 30 is the final evaluation's mean, not the sanity rows' (which share step 30)
    c = {s: m for s, m, _, _ in curve(soft, "fid_clf")}
    assert c[30] == pytest.approx(statistics.mean(BASE["fid_clf"])) and c[20] == pytest.approx(30.0)
    assert final_stats(soft, "gan_test").mean == pytest.approx(statistics.mean(BASE["gan_test"]))


def test_sanity_rows_in_the_table(root):
    cmp = compare(discover_runs([root]))
    rows = {r.row: r for r in cmp.sanity}
    assert list(rows) == ["identity", "real"] and rows["identity"].label == "sanity: identity"
    ident = [SANITY["identity"]["fid_clf"] + 0.001 * s for s in SEEDS for h in ("softmax", "aam")
             if not (h == "aam" and s == 4)]
    s = rows["identity"].stat("fid_clf")  # 9 of the 15 runs (aam seed 4 and cosface lack it)
    assert s.n == 9 and s.mean == pytest.approx(statistics.mean(ident))
    assert s.std == pytest.approx(statistics.stdev(ident))
    assert rows["identity"].n_runs == 15 and rows["identity"].description == "the identity stand-in"
    # identity's FID (≈ 0.003) beats every configuration, yet only a configuration is marked best
    page = render(cmp)
    assert re.search(r'<td class="best" data-metric="fid_clf" data-config="\d"', page)
    assert not re.search(r'<td class="best"[^>]*data-sanity', page) and 'data-sanity="identity"' in page
    assert "sanity: identity" in page and "ranks identity or template above real is broken" in page
    # the order check: fid_clf prefers identity to real images (broken); gan_test does not
    assert any("fid_clf ranks identity" in w for w in cmp.warnings)
    assert not any("gan_test ranks" in w for w in cmp.warnings)
    md = markdown_report(cmp).splitlines()
    header = [h.strip() for h in md[0].strip("|").split("|")]
    line = next(x for x in md if x.startswith("| *sanity: identity*"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "9 of 15 runs" and "**" not in line
    assert cells[header.index("fid_clf")] == f"{statistics.mean(ident):.3f} ± {statistics.stdev(ident):.3f}"
    assert cells[header.index("lambda_cls_in_use")] == "—"  # not recorded for a stand-in
    assert any(x.startswith("Sanity rows (never ranked)") for x in md)


def test_sanity_rows_split_by_data_set_settings(tmp_path, configs):
    for n, fid in ((40, 1.0), (80, 3.0)):
        cfg = configs["softmax"].copy()
        cfg.eval.final_n_samples = n
        for seed in (0, 1):
            write_run(tmp_path / str(n), cfg, "softmax", seed,
                      [{"step": 5, "kind": "final", "fid_clf": 9.0}, {**sanity_record("real"), "fid_clf": fid}])
    cmp = compare(discover_runs([tmp_path]))
    assert [(r.label, r.stat("fid_clf").mean) for r in cmp.sanity] == [
        ("sanity: real (eval.final_n_samples=40)", 1.0), ("sanity: real (eval.final_n_samples=80)", 3.0)]


# --- intervals and the head weight -----------------------------------------------------------------------------

def test_intervals_and_head_weight_on_the_page(root):
    cmp = compare(discover_runs([root]), baseline="head.name=softmax")
    assert "gan_test_ci_lo" not in cmp.metrics and "lambda_cls_in_use" in cmp.metrics + cmp.references
    assert final_stats(by_head(cmp, "aam"), "lambda_cls_in_use").mean == pytest.approx(0.1875)
    page = render(cmp)
    assert 'data-metric="lambda_cls_in_use" data-config=' in page
    assert not re.search(r'<td class="best" data-metric="lambda_cls_in_use"', page)
    table = page[page.index('<table id="run-intervals">'):]
    table = table[:table.index("</table>")]
    v = float(AAM["gan_test"][2])
    assert f"[{v - 0.02:.4g}, {v + 0.03:.4g}]" in table  # aam seed 2's gan_test interval
    assert 'data-metric="kid_clf"' not in table  # no run recorded an interval for it
    assert "λ_cls in use 0.1875 vs 1 (different head weights" in page


# --- the command ----------------------------------------------------------------------------------------------

def test_cli_prints_and_writes_the_paired_table(root, tmp_path, capsys):
    from gan_lab.cli import main

    labels = {c.config["head.name"]: (c.index, c.label_text) for c in compare(discover_runs([root])).configs}
    md, out = tmp_path / "t.md", tmp_path / "r.html"
    main(["compare", f"runs={root}", f"out={out}", f"markdown={md}", "baseline=head.name=softmax"])
    printed = capsys.readouterr().out
    (i_soft, soft), (i_aam, aam) = labels["softmax"], labels["aam"]
    assert f"paired comparison with baseline [{i_soft}] {soft}:" in printed
    assert f"  [{i_aam}] {aam} − [{i_soft}] {soft}\n" in printed
    diff = statistics.mean(AAM["gan_test"] - BASE["gan_test"])
    line = next(x for x in printed.splitlines() if x.split()[:1] == ["gan_test"] and f"{diff:.4g}" in x)
    assert line.split()[1] == "5" and "better (higher is better)" in line
    assert "λ_cls in use 0.1875 vs 1" in printed and "seeds 5: this configuration only" in printed
    text = md.read_text()
    assert text.index("| configuration | seeds |") < text.index("| configuration | metric | pairs |")
    second = text[text.index("| configuration | metric | pairs |"):].splitlines()
    rows = [[c.strip() for c in x.strip("|").split("|")] for x in second if x.startswith("| head.name=")]
    paired = {(r[0].split()[0], r[1]): r for r in rows}
    assert len(rows) == 6 and {len(r) for r in rows} == {7}  # 2 configurations × 3 ranked metrics
    g = paired[("head.name=aam", "gan_test")]
    ref = stats.ttest_rel(AAM["gan_test"], BASE["gan_test"])
    lo, hi = ref.confidence_interval(0.95)
    assert g[2:] == ["5", f"{diff:.4g}", f"[{lo:.4g}, {hi:.4g}]", f"{ref.pvalue:.1e}", "better"]
    assert paired[("head.name=aam", "kid_clf")][6] == "no evidence"
    assert paired[("head.name=cosface", "fid_clf")][6] == "worse"
    assert not any(k[0] == "head.name=softmax" for k in paired)  # the baseline is not compared with itself
    assert '<table id="paired">' in out.read_text() and '<td class="better"' in out.read_text()


def test_cli_without_baseline_keeps_todays_output(root, tmp_path, capsys):
    from gan_lab.cli import main

    cos = next(c for c in compare(discover_runs([root])).configs if c.config["head.name"] == "cosface")
    md = tmp_path / "t.md"
    main(["compare", f"runs={root}", f"out={tmp_path / 'r.html'}", f"markdown={md}"])
    printed = capsys.readouterr().out
    assert "no baseline chosen" in printed and f"  [{cos.index}] {cos.label_text}  seeds 0,1,2,3,5\n" in printed
    assert "| metric | pairs |" not in md.read_text() and "No baseline chosen" in (tmp_path / "r.html").read_text()
    with pytest.raises(SystemExit) as e:
        main(["compare", f"runs={root}", f"out={tmp_path / 'x.html'}", "baseline=head.name=arcface"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.startswith("gan-lab compare: error: baseline='head.name=arcface' matches no")
    assert len(err.splitlines()) == 1 and not (tmp_path / "x.html").exists()
