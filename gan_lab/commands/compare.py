"""``gan-lab compare runs=DIR[,DIR...] [out=report.html] [ignore=KEY[,KEY...]] [title=TEXT] [markdown=FILE] [baseline=N|KEY=VALUE[,KEY=VALUE...]]``.

Compare training runs in one self-contained HTML page (works offline: the page embeds everything it shows):
final metrics per configuration (mean ± std over seeds, best marked, sanity rows below), metric-versus-step
curves, per-class accuracy and sample grids; with baseline=, a paired comparison of every configuration with it.

  runs      run directories or sweep directories (searched recursively), comma-separated or ``[a,b]``
  out       the HTML file to write (default report.html)
  ignore    config keys (or key prefixes) that should not split runs into configurations, e.g.
            eval.n_samples; some bookkeeping keys are always ignored (gan_lab.report.aggregate.IGNORED_KEYS)
  title     the page title
  markdown  also write the final-metrics table as Markdown (mean ± std over seeds, best in bold), and the
            paired table when baseline= is given
  baseline  the configuration the others are tested against, paired by seed (95 % t interval, paired t-test,
            a verdict per metric): its number as printed ([0], [1], ...), or key=value conditions that exactly
            one configuration meets, e.g. baseline=head.name=softmax or baseline=head.name=aam,head.margin=0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gan_lab.cli_args import parse_kv, print_help, usage_of
from gan_lab.registry import ConfigError

USAGE = usage_of(__doc__)


def split_list(value: str) -> list[str]:
    """``a,b`` or ``[a,b]`` -> ["a", "b"] (empty items dropped)."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: Sequence[str]) -> None:
    if print_help(argv, __doc__):
        return
    from gan_lab.report.aggregate import compare
    from gan_lab.report.html import write_html
    from gan_lab.report.runs import discover_runs
    from gan_lab.report.text import configuration_lines, paired_lines

    args = parse_kv(argv, required=("runs",), usage=USAGE,
                    optional={"out": "report.html", "ignore": "", "title": None, "markdown": None,
                              "baseline": None})
    paths = split_list(args["runs"])
    if not paths:
        raise ConfigError(f"runs= names no directory; usage: {USAGE}")
    runs = discover_runs(paths)
    cmp = compare(runs, ignore=split_list(args["ignore"]), baseline=args["baseline"])
    out = write_html(cmp, args["out"], sources=paths, title=args["title"])
    n_final = sum(r.has_final for r in runs)
    print(f"{len(runs)} run{'s' * (len(runs) != 1)} ({n_final} with a final evaluation) in {len(cmp.configs)} "
          f"configuration{'s' * (len(cmp.configs) != 1)}"
          + (f" differing in {', '.join(cmp.differing)}" if cmp.differing else ""))
    for line in configuration_lines(cmp) + paired_lines(cmp):
        print(line)
    for w in cmp.warnings:
        print(f"  warning: {w}")
    print(f"wrote {out}")
    if args["markdown"]:
        from gan_lab.report.markdown import markdown_report

        Path(args["markdown"]).write_text(markdown_report(cmp), encoding="utf-8", errors="replace")
        print(f"wrote {args['markdown']}")
