"""``gan-lab compare PATH... [--out report.html] [--ignore KEY ...] [--title TEXT]``.

Reads run directories or sweep directories (searched recursively) and writes one self-contained HTML
page comparing their configurations. Works offline: the page embeds everything it shows.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from gan_lab.report.aggregate import IGNORED_KEYS, compare
from gan_lab.report.html import write_html
from gan_lab.report.runs import discover_runs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gan-lab compare",
        description="Compare training runs: final metrics per configuration (mean ± std over seeds, best marked), "
                    "metric-versus-step curves, per-class accuracy and sample grids, in one self-contained HTML page.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="run directories or sweep directories (searched recursively)")
    p.add_argument("--out", default="report.html", help="HTML file to write (default: report.html)")
    p.add_argument("--ignore", action="append", default=[], metavar="KEY",
                   help="config key (or key prefix) that should not split runs into configurations, e.g. "
                        f"eval.n_samples; repeatable. Always ignored: {', '.join(IGNORED_KEYS)}")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--markdown", default=None, metavar="FILE",
                   help="also write the final-metrics table as Markdown (mean ± std over seeds, best in bold)")
    return p


def main(argv: Sequence[str]) -> None:
    args = parser().parse_args(list(argv))
    runs = discover_runs(args.paths)
    cmp = compare(runs, ignore=args.ignore)
    out = write_html(cmp, args.out, sources=args.paths, title=args.title)
    n_final = sum(r.has_final for r in runs)
    print(f"{len(runs)} run{'s' * (len(runs) != 1)} ({n_final} with a final evaluation) in {len(cmp.configs)} "
          f"configuration{'s' * (len(cmp.configs) != 1)}"
          + (f" differing in {', '.join(cmp.differing)}" if cmp.differing else ""))
    for w in cmp.warnings:
        print(f"  warning: {w}")
    print(f"wrote {out}")
    if args.markdown:
        from pathlib import Path

        from gan_lab.report.markdown import markdown_table

        Path(args.markdown).write_text(markdown_table(cmp))
        print(f"wrote {args.markdown}")
