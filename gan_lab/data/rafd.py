"""Radboud Faces Database (RaFD) as distributed: one JPEG per (camera angle, subject, expression, gaze).

Files are named ``Rafd<angle>_<subject>_<ethnicity>_<gender>_<expression>_<gaze>.jpg``, e.g.
``Rafd090_28_Caucasian_male_angry_frontal.jpg`` (681×1024 portrait). The label is the expression
(8 classes, alphabetical: ``EXPRESSIONS``). ``angles`` / ``gazes`` filter the files (default: the
frontal camera 090 and frontal gaze); other names under ``root`` are skipped and counted in ``describe()``.

Split BY SUBJECT: the subjects found under root (before the filters, so changing a filter never
moves a person to another split) are permuted with ``split_seed``; ``val_fraction`` / ``test_fraction``
of them (at least one each) go to val / test. No person is in two splits.

Each item is read from disk when first used (``ImageFileDataset``): crop (``crop``, see
``gan_lab.data.images.parse_crop``), square resize to ``image_size``; ``cache`` keeps decoded items.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from gan_lab.data.base import SPLITS, ImageDataModule, check_fractions
from gan_lab.data.images import ImageFileDataset, parse_crop
from gan_lab.data.registry import register_dataset
from gan_lab.errors import DatasetNotFoundError
from gan_lab.registry import ConfigError

EXPRESSIONS = ("angry", "contemptuous", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
GAZES = ("frontal", "left", "right")
ANGLES = (0, 45, 90, 135, 180)
NAME_RE = re.compile(r"^Rafd(\d{3})_(\d+)_([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)_([A-Za-z]+)\.(jpe?g|png)$", re.I)
SOURCE = "https://rafd.socsci.ru.nl/ (free for research, on request: register, accept the terms, download)"
LAYOUT = """  <root>/Rafd090_01_Caucasian_female_angry_frontal.jpg
  <root>/Rafd090_01_Caucasian_female_angry_left.jpg
  ...    Rafd<angle>_<subject>_<ethnicity>_<gender>_<expression>_<gaze>.jpg (sub-folders are searched too)"""


def parse_name(name: str) -> dict | None:
    """The fields of a RaFD file name, or None if it is not one (unknown expression, gaze or angle too)."""
    m = NAME_RE.match(name)
    if not m:
        return None
    angle, subject, ethnicity, gender, expression, gaze, _ = m.groups()
    expression, gaze, angle = expression.lower(), gaze.lower(), int(angle)
    if expression not in EXPRESSIONS or gaze not in GAZES or angle not in ANGLES:
        return None
    return {"angle": angle, "subject": int(subject), "ethnicity": ethnicity, "gender": gender.lower(),
            "expression": expression, "gaze": gaze, "label": EXPRESSIONS.index(expression)}


def _choices(value, allowed: tuple, key: str, convert) -> tuple:
    """``"all"`` or a list of allowed values -> tuple; ConfigError naming ``key`` otherwise."""
    if isinstance(value, str) and value.lower() == "all":
        return allowed
    items = [value] if isinstance(value, (str, int)) else value
    try:
        out = tuple(convert(v) for v in items)
    except (TypeError, ValueError):
        out = ()
    if not out or any(v not in allowed for v in out):
        raise ConfigError(f"{key}={value!r} is invalid; allowed: all, or a list of {', '.join(map(str, allowed))}")
    return out


def subject_split(subjects, val_fraction: float, test_fraction: float, seed: int) -> dict[str, set[int]]:
    """Disjoint subject sets per split, deterministic in ``seed`` (at least one subject in val and test)."""
    subjects = np.array(sorted(set(subjects)))
    n = len(subjects)
    n_val, n_test = max(1, int(round(val_fraction * n))), max(1, int(round(test_fraction * n)))
    if n - n_val - n_test < 1:
        raise ConfigError(f"RaFD: {n} subject(s) cannot be split into train/val/test with dataset.val_fraction="
                          f"{val_fraction}, dataset.test_fraction={test_fraction}; allowed: fractions leaving >= 1 "
                          "subject for training (at least 3 subjects are needed)")
    perm = np.random.default_rng(seed).permutation(subjects)
    return {"val": set(perm[:n_val].tolist()), "test": set(perm[n_val : n_val + n_test].tolist()),
            "train": set(perm[n_val + n_test :].tolist())}


@register_dataset("rafd")
class RaFDDataModule(ImageDataModule):
    name = "rafd"

    def __init__(self, root: str, image_size: int = 128, angles=(90,), gazes=("frontal",),
                 crop=(0.1, 0.15, 0.9, 0.682), cache: bool = True, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        self.angles = _choices(angles, ANGLES, "dataset.angles", lambda v: int(str(v)))
        self.gazes = _choices(gazes, GAZES, "dataset.gazes", lambda v: str(v).lower())
        self.crop = parse_crop(crop)
        self.cache = bool(cache)
        self.val_fraction, self.test_fraction = check_fractions(val_fraction, test_fraction)
        self.num_classes, self.channels, self.class_names = len(EXPRESSIONS), 3, list(EXPRESSIONS)
        self.counts: dict[str, int] = {}
        self.subjects: dict[str, set[int]] = {}

    def _load(self):
        root = Path(self.root)
        if not root.is_dir():
            raise DatasetNotFoundError("RaFD", root, LAYOUT, SOURCE, detail="no such directory")
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        parsed = [(p, parse_name(p.name)) for p in files]
        matched = [(p, f) for p, f in parsed if f is not None]
        if not matched:
            raise DatasetNotFoundError("RaFD", root, LAYOUT, SOURCE,
                                       detail=f"none of its {len(files)} files is named like a RaFD image")
        kept = [(p, f) for p, f in matched if f["angle"] in self.angles and f["gaze"] in self.gazes]
        if not kept:
            seen = Counter((f["angle"], f["gaze"]) for _, f in matched)
            raise ConfigError(
                f"RaFD at {root}: no image with dataset.angles={list(self.angles)} and dataset.gazes="
                f"{list(self.gazes)}; allowed: values present here (angle, gaze): {sorted(seen)}")
        self.subjects = subject_split([f["subject"] for _, f in matched], self.val_fraction, self.test_fraction,
                                      self.split_seed)
        out = {}
        for split in SPLITS:
            items = [(p, f["label"]) for p, f in kept if f["subject"] in self.subjects[split]]
            if not items:
                raise ConfigError(f"RaFD at {root}: the {split} split holds no image after the filters "
                                  f"(subjects {sorted(self.subjects[split])}); allowed: other dataset.split_seed, "
                                  "dataset.angles/gazes, or more data")
            out[split] = ImageFileDataset([p for p, _ in items], [y for _, y in items], 3, self.image_size,
                                          crop=self.crop, cache=self.cache)
            out[split].check_all()  # every image decodes, now (a corrupt one is named before step 0)
        self.counts = {"files": len(files), "skipped": len(files) - len(matched),
                       "filtered_out": len(matched) - len(kept)}
        return out

    def describe(self) -> str:
        self.setup()
        c = self.counts
        subj = ", ".join(f"{s} {len(self.subjects[s])}" for s in SPLITS)
        return (super().describe() + f"; subjects: {subj}; angles {list(self.angles)}, gazes {list(self.gazes)}; "
                f"{c['filtered_out']} files filtered out, {c['skipped']} skipped (not a RaFD name)")
