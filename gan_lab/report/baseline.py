"""Choose the baseline configuration (``baseline=``) and pair every other configuration's runs with it by seed.

``baseline=`` takes one of
  * a configuration's number as the console lists it (``baseline=0``: configurations are numbered in the
    order they are found);
  * conditions ``key=value`` on the configuration's (flattened) config, separated by commas or spaces, that
    exactly one configuration meets: ``baseline=head.name=softmax``, ``baseline=head.name=aam,head.margin=0.5``;
    a configuration's label as the page prints it (``"head.name=aam head.margin=0.5"``) is such a list.
    ``key=<missing>`` matches a configuration without that key.
A spec that matches no configuration, or several, is a ConfigError listing the configurations.

Pairing: a run enters with its final evaluation (a run stopped early, †, is left out: its last periodic
numbers come from another split and fewer samples); a seed is paired when both configurations have exactly
one such run with it and both values are finite. The statistics are gan_lab.report.paired's.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import yaml

from gan_lab.registry import ConfigError
from gan_lab.report.paired import PairedTest, paired_test
from gan_lab.report.runs import finite, show_value

MISSING_TEXT = "<missing>"


def _seed_key(seed) -> str:
    return json.dumps(seed, sort_keys=True, default=str)


def _parse(text: str):
    """A value as the command line would give it (YAML: ``true``, ``0.5``, ``[a,b]``); lists become tuples."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return tuple(value) if isinstance(value, list) else value


def _matches(config: dict, key: str, text: str) -> bool:
    if key not in config:
        return text == MISSING_TEXT
    value = config[key]
    if show_value(value) == text or _parse(text) == value:
        return True
    try:  # 1e-4 (a string to YAML 1.1) against 0.0001
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isclose(float(text), float(value), rel_tol=1e-12))
    except ValueError:
        return False


def split_conditions(spec: str) -> list[tuple[str, str]]:
    """``a=1,b=[x,y] c=2`` -> [("a", "1"), ("b", "[x,y]"), ("c", "2")]: commas or spaces outside brackets."""
    parts = [p for p in re.split(r"[,\s]+(?![^\[]*\])", spec.strip()) if p]
    out = []
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ConfigError(f"baseline={spec!r}: {part!r} is not key=value; give a configuration number or "
                              "conditions such as baseline=head.name=softmax")
        out.append((key, value))
    return out


def select_baseline(configs: Sequence, spec: str):
    """The one configuration ``spec`` names (see the module docstring); ConfigError otherwise."""
    listing = "; ".join(f"[{c.index}] {c.label_text}" for c in configs)
    spec = spec.strip()
    if not spec:
        raise ConfigError(f"baseline= is empty; give a configuration number or key=value conditions: {listing}")
    if re.fullmatch(r"\d+", spec):
        i = int(spec)
        if i >= len(configs):
            raise ConfigError(f"baseline={spec}: there are {len(configs)} configurations (0-{len(configs) - 1}): "
                              f"{listing}")
        return configs[i]
    exact = [c for c in configs if c.label_text == spec]
    if len(exact) == 1:
        return exact[0]
    conditions = split_conditions(spec)
    keys = {k for c in configs for k in c.config}
    unknown = [k for k, v in conditions if k not in keys and v != MISSING_TEXT]
    if unknown:
        raise ConfigError(f"baseline={spec!r}: no configuration has the key {unknown[0]!r}; the configurations: "
                          f"{listing}")
    found = [c for c in configs if all(_matches(c.config, k, v) for k, v in conditions)]
    if len(found) != 1:
        what = ("no configuration" if not found
                else f"{len(found)} configurations ({', '.join(f'[{c.index}]' for c in found)})")
        raise ConfigError(f"baseline={spec!r} matches {what}; it must name exactly one (a number, or key=value "
                          f"conditions): {listing}")
    return found[0]


@dataclass
class MetricPairs:
    """One metric of one configuration against the baseline: the paired seeds, their values, the test."""

    metric: str
    direction: str
    seeds: list  # paired seeds, in seed order
    values: list[float]  # the configuration's, per paired seed
    baseline_values: list[float]
    test: PairedTest

    @property
    def differences(self) -> list[float]:
        return [a - b for a, b in zip(self.values, self.baseline_values)]


@dataclass
class VersusBaseline:
    """A configuration against the baseline: one MetricPairs per ranked metric, and what could not be paired."""

    config: object  # Configuration
    baseline: object  # Configuration
    rows: list[MetricPairs]
    only_config: list = field(default_factory=list)  # seeds with a final evaluation on one side only
    only_baseline: list = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # runs not paired, and why


def _final_by_seed(config, side: str, notes: list[str]) -> dict[str, tuple[object, dict]]:
    """seed key -> (seed, final record) for the runs with a final evaluation and a seed no other run shares."""
    found: dict[str, list] = {}
    for run in config.runs:
        if run.final is None:
            notes.append(f"{side} seed {run.seed}: no final evaluation (†), not paired")
            continue
        found.setdefault(_seed_key(run.seed), []).append((run.seed, run.final))
    out = {}
    for key, items in found.items():
        if len(items) > 1:
            notes.append(f"{side} seed {items[0][0]}: {len(items)} runs, not paired (which one pairs is ambiguous)")
        else:
            out[key] = items[0]
    return out


def _seed_order(key: str):
    value = json.loads(key)
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, key)


def versus_baseline(config, baseline, metrics: Sequence[str], directions: dict[str, str]) -> VersusBaseline:
    """Pair ``config``'s runs with ``baseline``'s by seed and test every metric in ``metrics``."""
    notes: list[str] = []
    mine = _final_by_seed(config, "this configuration", notes)
    base = _final_by_seed(baseline, "baseline", notes)
    shared = sorted(set(mine) & set(base), key=_seed_order)
    rows = []
    for m in metrics:
        seeds, a, b = [], [], []
        for key in shared:
            va, vb = mine[key][1].get(m), base[key][1].get(m)
            if finite(va) and finite(vb):
                seeds.append(mine[key][0])
                a.append(float(va))
                b.append(float(vb))
        rows.append(MetricPairs(m, directions[m], seeds, a, b,
                                paired_test([x - y for x, y in zip(a, b)], directions[m])))
    return VersusBaseline(config, baseline, rows,
                          only_config=[mine[k][0] for k in sorted(set(mine) - set(base), key=_seed_order)],
                          only_baseline=[base[k][0] for k in sorted(set(base) - set(mine), key=_seed_order)],
                          left_out=notes)


def paired_comparisons(configs: Sequence, baseline, metrics: Sequence[str],
                       directions: dict[str, str]) -> list[VersusBaseline]:
    """Every configuration but the baseline against it, in configuration order."""
    return [versus_baseline(c, baseline, metrics, directions) for c in configs if c is not baseline]
