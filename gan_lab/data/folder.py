"""Any class-per-subfolder image tree: ``root/<class>/*.png|jpg|jpeg|bmp|webp``.

Classes are the sub-folder names (sorted; label = index). Two layouts, detected automatically:
- flat: ``root/<class>/...`` -> train/val/test split stratified by class with ``split_seed``;
- pre-split: ``root/{train,val,test}/<class>/...`` (every sub-folder of root is train, val or test,
  and train is there) -> those splits as given; a missing val or test is carved from train
  (stratified, ``val_fraction`` / ``test_fraction``).
Images are decoded to ``channels`` (1 = luminance, 3 = RGB; alpha composited on white), centre-cropped
to a square and resized to ``image_size`` when first used (``ImageFileDataset``; ``cache`` keeps them).
Files with other extensions are skipped and counted in ``describe()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gan_lab.data.base import SPLITS, ImageDataModule, check_fractions, stratified_split
from gan_lab.data.images import ImageFileDataset, parse_crop
from gan_lab.data.registry import register_dataset
from gan_lab.errors import DatasetNotFoundError
from gan_lab.imaging import IMAGE_SUFFIXES, is_image_path
from gan_lab.registry import ConfigError

LAYOUT = f"""  <root>/<class name>/<image>      e.g. <root>/cat/0001.png, <root>/dog/x.jpg   (one folder per class)
or, already split:
  <root>/train/<class name>/<image>
  <root>/val/<class name>/<image>    (optional: else carved from train)
  <root>/test/<class name>/<image>   (optional: else carved from train)
Image files: {', '.join(IMAGE_SUFFIXES)} (case-insensitive); sub-folders inside a class folder are searched too."""
SOURCE = "your own images (any class-per-folder tree, e.g. an ImageNet-style export)"


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_classes(path: Path) -> tuple[dict[str, list[Path]], int]:
    """{class name: sorted image paths} for the class folders under ``path`` (empty ones left out), and the
    number of non-image files skipped."""
    classes, skipped = {}, 0
    for d in _subdirs(path):
        files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if is_image_path(p)]
        skipped += len(files) - len(images)
        if images:
            classes[d.name] = images
    return classes, skipped


@register_dataset("folder")
class FolderDataModule(ImageDataModule):
    name = "folder"

    def __init__(self, root: str, image_size: int = 64, channels: int = 3, crop=None, cache: bool = True,
                 val_fraction: float = 0.1, test_fraction: float = 0.2, **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ConfigError(f"dataset.channels={channels!r} is invalid; allowed: 1, 3")
        self.channels = int(channels)
        self.crop = parse_crop(crop)
        self.cache = bool(cache)
        self.val_fraction, self.test_fraction = check_fractions(val_fraction, test_fraction)
        self.layout = ""
        self.skipped = 0

    def _not_found(self, detail: str) -> DatasetNotFoundError:
        return DatasetNotFoundError("Image-folder", Path(self.root), LAYOUT, SOURCE, detail=detail)

    def _load(self):
        root = Path(self.root)
        if not root.is_dir():
            raise self._not_found("no such directory")
        top = {p.name for p in _subdirs(root)}
        presplit = "train" in top and top <= set(SPLITS)
        if presplit:
            per_split = {}
            for s in SPLITS:
                if s in top:
                    per_split[s], skipped = scan_classes(root / s)
                    self.skipped += skipped
            if not per_split["train"]:
                raise self._not_found(f"{root / 'train'} has no class folder with images")
        else:
            classes, self.skipped = scan_classes(root)
            if not classes:
                raise self._not_found("no class folder with images in it")
            per_split = {"all": classes}
        self.layout = "pre-split" if presplit else "class folders"
        self.class_names = sorted({c for cls in per_split.values() for c in cls})
        self.num_classes = len(self.class_names)

        def flat(classes: dict[str, list[Path]]) -> tuple[list[Path], np.ndarray]:
            paths = [p for c in sorted(classes) for p in classes[c]]
            labels = np.array([self.class_names.index(c) for c in sorted(classes) for _ in classes[c]], dtype=np.int64)
            return paths, labels

        # What is not given as a folder is carved from train (flat layout: from everything), stratified.
        source_paths, source_labels = flat(per_split.get("train", per_split.get("all")))
        fractions = (0.0, self.val_fraction if "val" not in per_split else 0.0,
                     self.test_fraction if "test" not in per_split else 0.0)
        fractions = (1.0 - fractions[1] - fractions[2], fractions[1], fractions[2])
        idx = stratified_split(source_labels, fractions, self.split_seed)
        out = {}
        for s in SPLITS:
            if s in per_split and s != "train":
                paths, labels = flat(per_split[s])
            else:
                paths, labels = [source_paths[i] for i in idx[s]], source_labels[idx[s]]
            if len(paths) == 0:
                raise ConfigError(
                    f"folder data set at {root}: the {s} split would be empty ({len(source_paths)} images in "
                    f"{len(self.class_names)} classes) with dataset.val_fraction={self.val_fraction}, "
                    f"dataset.test_fraction={self.test_fraction}; allowed: larger fractions, or more images")
            out[s] = ImageFileDataset(paths, labels, self.channels, self.image_size, crop=self.crop, cache=self.cache)
            out[s].check_all()  # every image decodes, now (a corrupt one is named before step 0)
        return out

    def describe(self) -> str:
        self.setup()
        return super().describe() + f"; layout: {self.layout}; {self.skipped} non-image files skipped"
