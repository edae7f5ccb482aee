"""Validation curves of albedo runs as standalone SVG charts (one per metric), for the results docs.

Usage (repository root)::

    python benchmarks/albedo_curves.py RUN_DIR=label [RUN_DIR=label ...] --out DIR [--metrics si_mse,lmse]

Reads each run's ``metrics.jsonl`` (written by ``gan-lab train``), takes its periodic evaluations on the
validation split, and writes ``DIR/curve_<metric>.svg``: x = iteration, one line per label (runs given the
same label, e.g. seeds, are averaged per iteration and the point says over how many), a legend under the
chart. The final test-split record is left out: it is another set of renders.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from html import escape
from pathlib import Path

from gan_lab.report.svg import Series, colour, line_chart

LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "si_mse": "si-MSE", "lmse": "LMSE", "delta_e2000": "ΔE2000",
          "sharpness": "sharpness"}


def val_points(run_dir: Path, metric: str) -> dict[int, float]:
    """{iteration: value} of the run's periodic validation evaluations."""
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("split", "val") == "val" and r.get("kind") != "final" and metric in r:
            out[int(r["step"])] = float(r[metric])
    return out


def chart(runs: list[tuple[Path, str]], metric: str) -> str:
    """A standalone SVG: the line chart plus a title and a legend."""
    by_label: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run_dir, label in runs:
        for step, v in val_points(run_dir, metric).items():
            by_label[label][step].append(v)
    series = [Series(label, i, [(s, sum(v) / len(v), len(v), False) for s, v in sorted(pts.items())])
              for i, (label, pts) in enumerate(by_label.items())]
    width, height = 480, 260
    body = line_chart(series, width=width, height=height, x_label="iteration")
    legend_h = 16 * len(series) + 8
    legend = [f'<rect x="60" y="{height + 6 + 16 * i}" width="12" height="3" fill="{colour(s.index)}"/>'
              f'<text x="78" y="{height + 11 + 16 * i}" fill="#333">{escape(s.name)}</text>'
              for i, s in enumerate(series)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 22 + legend_h}" '
            f'width="{width}" height="{height + 22 + legend_h}" font-family="sans-serif" font-size="11">'
            f'<rect width="100%" height="100%" fill="#fff"/>'
            f'<text x="{width / 2}" y="14" text-anchor="middle" fill="#111">{escape(LABELS.get(metric, metric))}'
            f' on the validation renders</text><g transform="translate(0, 20)">{body}'
            + "".join(legend) + "</g></svg>")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="RUN_DIR=label")
    ap.add_argument("--out", required=True)
    ap.add_argument("--metrics", default="si_mse,lmse,delta_e2000,ssim")
    args = ap.parse_args()
    runs = []
    for arg in args.runs:
        path, _, label = arg.partition("=")
        if not (Path(path) / "metrics.jsonl").is_file():
            raise SystemExit(f"{path}: no metrics.jsonl (a gan-lab train run directory?)")
        runs.append((Path(path), label or Path(path).name))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for metric in args.metrics.split(","):
        path = out / f"curve_{metric}.svg"
        path.write_text(chart(runs, metric))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
