"""Paired albedo data: lit photo -> flat label albedo (+ label mask, difficulty tags).

Items are dicts of tensors (the default collate batches them):
``input`` (3, S, S) and ``albedo`` (3, S, S) float32 in [-1, 1], ``mask`` (1, S, S) float32 in {0, 1},
``index`` int64 (render index or file number), ``difficulty`` (3,) float32 multi-hot over
``DIFFICULTY_TAGS`` (all zeros: a "plain" sample).

* ``albedo_synth``: renders with ``gan_lab.synth.render.render_batch``. Training data is either an
  endless on-the-fly stream (``n_train: null``) or a fixed pool of ``n_train`` renders made once at
  setup, both samples ``0, 1, 2, ...`` of render seed ``split_seed``. The stream's index space is cut
  into chunks of ``chunk_size``; worker ``w`` of ``W`` (over all DDP ranks × loader workers) renders
  the chunks ``c ≡ w (mod W)``: distinct samples, no coordination. Held-out val/test renders are
  samples ``0..n-1`` of the seeds ``10¹² + 2·split_seed`` and ``10¹² + 2·split_seed + 1``: a seed range
  training never uses, the same renders for every run with the same ``split_seed``/``image_size``/``render``.
  With ``cache_dir`` set, fixed renders (held-out sets, the training pool) are stored there as uint8 and
  reused by later runs (keyed by seed, indices, size, render config and a hash of the renderer's source and the fonts).
* ``albedo_folder``: a paired folder ``root/{input,albedo}/NAME.png``, optional ``root/mask/NAME.png``
  (else the whole image counts) and optional ``root/manifest.jsonl`` (difficulty tags), as written by
  ``gan-lab albedo-synth`` (or real photo/albedo pairs). Split by ``split_seed`` into val/test/train
  fractions, or by ``root/{train,val,test}/`` sub-folders when they exist.
* ``PhotoFolder``: unpaired photos at their own size, for inference (``gan-lab extract-albedo``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from gan_lab.data.base import SPLITS, ImageDataModule, resize_square
from gan_lab.data.registry import register_dataset
from gan_lab.errors import DatasetNotFoundError
from gan_lab.imaging import IMAGE_SUFFIXES, is_image_path, load_image, to_uint8
from gan_lab.registry import ConfigError

DIFFICULTY_TAGS = ("specular", "shadow", "coloured_light")
HOLDOUT_SEED_BASE = 10**12


def difficulty_vector(tags) -> Tensor:
    """Multi-hot float32 (3,) over DIFFICULTY_TAGS; unknown tags are ignored."""
    tags = set(tags or ())
    return torch.tensor([float(t in tags) for t in DIFFICULTY_TAGS])


def tags_of(vector: Tensor) -> list[str]:
    return [t for t, v in zip(DIFFICULTY_TAGS, vector.tolist()) if v > 0.5]


def _item(inp: Tensor, alb: Tensor, mask: Tensor, index: int, tags) -> dict:
    return {"input": inp.float(), "albedo": alb.float(), "mask": mask.float(),
            "index": torch.tensor(int(index)), "difficulty": difficulty_vector(tags)}


def stack_items(items) -> dict:
    """A list of item dicts -> one batch dict (as the default collate would)."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


# ------------------------------------------------------------------------------------------ synthetic renders


def render_items(n: int, seed: int, size: int, render: Mapping | None, start: int = 0) -> list[dict]:
    """Samples ``start .. start+n-1`` of render seed ``seed`` as items ([0, 1] renderer outputs -> [-1, 1])."""
    try:
        from gan_lab.synth.render import RenderConfig, render_batch
    except ImportError as e:  # the renderer is a separate package part
        raise ConfigError(f"dataset=albedo_synth needs gan_lab.synth.render ({e}); use dataset=albedo_folder "
                          "with a rendered folder instead") from e
    cfg = RenderConfig.from_dict(dict(render)) if render else None
    b = render_batch(n, seed, size=size, config=cfg, device="cpu", indices=list(range(start, start + n)))
    out = []
    for i in range(n):
        tags = b.params[i].get("difficulty", []) if b.params else []
        out.append(_item(b.image[i] * 2 - 1, b.albedo[i] * 2 - 1, (b.mask[i] > 0.5).float(), start + i, tags))
    return out


def renderer_fingerprint() -> str:
    """A hash of what a render depends on besides its arguments: the renderer's source and the machine's
    TrueType fonts (label text is drawn with them, ``synth.artwork.font_files``: another font set draws
    other labels). Cached renders are reused only while both are unchanged."""
    import hashlib

    import gan_lab.synth as synth
    from gan_lab.synth import artwork

    h = hashlib.blake2b(digest_size=8)
    for f in sorted(Path(synth.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    for font in artwork.font_files():
        h.update(f"{Path(font).name}:{Path(font).stat().st_size}".encode())
    return h.hexdigest()


def _render_chunk(args: tuple) -> dict:
    """One chunk rendered and packed to uint8 (runs in a render worker process, one torch thread)."""
    n, seed, size, render, start = args
    torch.set_num_threads(1)
    return pack_items(render_items(n, seed, size, render, start=start))


def render_packed(n: int, seed: int, size: int, render: Mapping | None, start: int = 0, chunk_size: int = 16,
                  workers: int = 1) -> dict:
    """Samples ``start .. start+n-1`` packed to 8 bits (``pack_items``), rendered in chunks of ``chunk_size``
    by this process or by ``workers`` spawned processes (one torch thread each), with a progress bar.

    A chunk is the same render call whichever process makes it, so the result does not depend on
    ``workers``. On 2 cores one process with two torch threads was the faster (docs/albedo.md)."""
    from gan_lab.progress import progress as progress_bar

    jobs = [(min(chunk_size, start + n - s), seed, size, dict(render or {}), s) for s in range(start, start + n, chunk_size)]
    bar = dict(total=n, desc=f"render {n} × {size}px", unit="img", disable=n < 4 * chunk_size, mininterval=10)
    packed = []
    with progress_bar(**bar) as progress:
        if workers > 1 and len(jobs) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
                for p in pool.map(_render_chunk, jobs):
                    packed.append(p)
                    progress.update(len(p["index"]))
        else:
            for job in jobs:
                packed.append(pack_items(render_items(*job[:4], start=job[4])))
                progress.update(job[0])
    return {k: torch.cat([p[k] for p in packed]) for k in packed[0]}


def render_chunks(n: int, seed: int, size: int, render: Mapping | None, start: int = 0, chunk_size: int = 16,
                  workers: int = 1) -> list[dict]:
    """``render_packed`` as items (8-bit values, as every fixed render set holds them)."""
    return unpack_items(render_packed(n, seed, size, render, start, chunk_size, workers))


def cached_render_items(n: int, seed: int, size: int, render: Mapping | None, start: int = 0,
                        cache_dir: str | None = None, chunk_size: int = 16, workers: int = 1) -> list[dict]:
    """``render_packed`` stored in ``cache_dir`` (when set) keyed by every input and the renderer."""
    import hashlib

    path = None
    if cache_dir:
        key = json.dumps({"n": n, "seed": seed, "size": size, "render": dict(render or {}), "start": start,
                          "renderer": renderer_fingerprint()}, sort_keys=True, default=str)
        path = Path(cache_dir) / f"albedo_synth-{hashlib.blake2b(key.encode(), digest_size=10).hexdigest()}.pt"
        if path.is_file():
            return unpack_items(torch.load(path, weights_only=True))
    packed = render_packed(n, seed, size, render, start, chunk_size, workers)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(packed, tmp)
        tmp.replace(path)
    return unpack_items(packed)  # 8-bit whether cached or not: the same numbers on every run


def pack_items(items: list[dict]) -> dict:
    """Items -> uint8 images (what a PNG holds), bool masks, indices, tags."""
    b = stack_items(items)
    return {"input": to_uint8(b["input"]), "albedo": to_uint8(b["albedo"]), "mask": b["mask"] > 0.5, "index": b["index"],
            "difficulty": b["difficulty"]}


def unpack_items(d: dict) -> list[dict]:
    return [_item(d["input"][i].float() / 127.5 - 1, d["albedo"][i].float() / 127.5 - 1, d["mask"][i].float(),
                  int(d["index"][i]), tags_of(d["difficulty"][i])) for i in range(len(d["index"]))]


class ListDataset(Dataset):
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class RenderStream(IterableDataset):
    """Endless training renders; each (rank, worker) takes its own chunks (see module docstring)."""

    def __init__(self, split_seed: int, size: int, chunk_size: int, render: Mapping | None):
        self.split_seed, self.size, self.chunk_size, self.render = split_seed, size, chunk_size, render

    @staticmethod
    def shard() -> tuple[int, int]:
        """(this worker's id, number of workers) over all DDP ranks × loader workers."""
        rank, world = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * nw + wid, world * nw

    def __iter__(self) -> Iterator[dict]:
        wid, n = self.shard()
        chunk = wid
        while True:
            yield from unpack_items(pack_items(render_items(self.chunk_size, self.split_seed, self.size, self.render,
                                                            start=chunk * self.chunk_size)))
            chunk += n


@register_dataset("albedo_synth")
class AlbedoSynthDataModule(ImageDataModule):
    """Rendered (photo, albedo, mask) triples; see the module docstring for the seed layout."""

    name = "albedo_synth"

    def __init__(self, root: str = "", image_size: int = 64, n_train: int | None = None, n_val: int = 32,
                 n_test: int = 256, chunk_size: int = 16, render: Mapping | None = None, cache_dir: str | None = None,
                 render_workers: int = 1, **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        self.channels, self.num_classes, self.class_names = 3, 0, []
        for key, v in (("n_val", n_val), ("n_test", n_test), ("chunk_size", chunk_size)):
            if int(v) < 1:
                raise ConfigError(f"dataset.{key}={v} is invalid; allowed: an integer >= 1")
        if n_train is not None and int(n_train) < 1:
            raise ConfigError(f"dataset.n_train={n_train} is invalid; allowed: null (endless stream) or >= 1")
        self.n_train = None if n_train is None else int(n_train)
        self.n_val, self.n_test, self.chunk_size = int(n_val), int(n_test), int(chunk_size)
        if int(render_workers) < 1:
            raise ConfigError(f"dataset.render_workers={render_workers} is invalid; allowed: an integer >= 1")
        self.render_workers = int(render_workers)
        self.render = dict(render or {})
        self.cache_dir = cache_dir or None

    def holdout_seed(self, split: str) -> int:
        return HOLDOUT_SEED_BASE + 2 * self.split_seed + (0 if split == "val" else 1)

    def _load(self) -> dict[str, Dataset]:
        size = self.image_size
        def fixed(n: int, seed: int) -> ListDataset:
            return ListDataset(cached_render_items(n, seed, size, self.render, 0, self.cache_dir, self.chunk_size,
                                                   self.render_workers))

        splits: dict[str, Dataset] = {s: fixed(n, self.holdout_seed(s)) for s, n in (("val", self.n_val),
                                                                                      ("test", self.n_test))}
        if self.n_train is None:
            splits["train"] = RenderStream(self.split_seed, size, self.chunk_size, self.render)
        else:
            splits["train"] = fixed(self.n_train, self.split_seed)
        return splits

    def train_dataloader(self):
        if self.n_train is None:  # an IterableDataset: no shuffling; batches never run out
            from torch.utils.data import DataLoader

            return DataLoader(self.dataset("train"), batch_size=self.batch_size, num_workers=self.num_workers,
                              persistent_workers=self.num_workers > 0)
        return super().train_dataloader()

    def grid_inputs(self, n: int, seed: int = 0) -> dict:
        """The first ``n`` validation renders (fixed for the run), batched: the sample-grid inputs."""
        ds = self.dataset("val")
        return stack_items([ds[i] for i in range(min(n, len(ds)))])

    def describe(self) -> str:
        train = "endless stream" if self.n_train is None else f"{self.n_train} fixed renders"
        return (f"albedo_synth: train {train}, val {self.n_val}, test {self.n_test} held-out renders "
                f"(seeds {self.holdout_seed('val')}, {self.holdout_seed('test')}); 3×{self.image_size}×{self.image_size}")


# ------------------------------------------------------------------------------------------ paired folders

FOLDER_LAYOUT = """  ROOT/input/NAME.png      lit photos
  ROOT/albedo/NAME.png     albedo targets (same NAME)
  ROOT/mask/NAME.png       optional label masks (white = label)
  ROOT/manifest.jsonl      optional: one JSON object per line with "index" and "difficulty" tags
  (or ROOT/train/, ROOT/val/, ROOT/test/ each holding that layout)"""


def _images(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir())
            if is_image_path(p)}


def read_manifest(path: Path) -> dict[str, list[str]]:
    """{file stem: difficulty tags} from a manifest.jsonl (``difficulty`` at top level or under ``params``)."""
    tags: dict[str, list[str]] = {}
    if not path.is_file():
        return tags
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}, line {n}: not JSON ({e}); fix or delete the manifest") from None
        diff = rec.get("difficulty", (rec.get("params") or {}).get("difficulty", []))
        stems = {Path(v).stem for v in rec.values() if isinstance(v, str) and v.lower().endswith(IMAGE_SUFFIXES)}
        if "index" in rec:
            stems.add(f"{int(rec['index']):06d}")
        for s in stems:
            tags[s] = list(diff)
    return tags


class PairedFolder(Dataset):
    """(input, albedo, mask) files matched by name, centre-cropped to a square and resized to ``image_size``."""

    def __init__(self, root: Path, names: list[str], image_size: int, cache: bool = True):
        self.root, self.names, self.size, self.cache = root, names, image_size, cache
        self.inputs, self.albedos = _images(root / "input"), _images(root / "albedo")
        self.masks = _images(root / "mask") if (root / "mask").is_dir() else {}
        self.tags = read_manifest(root / "manifest.jsonl")
        self._cache: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.names)

    def _load(self, path: Path, channels: int) -> Tensor:
        return resize_square(load_image(path, channels)[None], self.size)[0]

    def __getitem__(self, i: int) -> dict:
        if i in self._cache:
            return self._cache[i]
        name = self.names[i]
        inp = self._load(self.inputs[name], 3).clamp(-1, 1)
        alb = self._load(self.albedos[name], 3).clamp(-1, 1)
        mask = ((self._load(self.masks[name], 1) > 0).float() if name in self.masks
                else torch.ones(1, self.size, self.size))
        index = int(name) if name.isdigit() else i
        item = _item(inp, alb, mask, index, self.tags.get(name, []))
        if self.cache:
            self._cache[i] = item
        return item


def paired_names(root: Path) -> list[str]:
    """Names present in both ``input/`` and ``albedo/``; a missing folder or no pair raises DatasetNotFoundError."""
    for sub in ("input", "albedo"):
        if not (root / sub).is_dir():
            raise DatasetNotFoundError("albedo_folder", root, FOLDER_LAYOUT, "gan-lab albedo-synth out=ROOT n=N",
                                       detail=f"no {sub}/ folder")
    inputs, albedos = _images(root / "input"), _images(root / "albedo")
    names = sorted(set(inputs) & set(albedos))
    if not names:
        raise DatasetNotFoundError("albedo_folder", root, FOLDER_LAYOUT, "gan-lab albedo-synth out=ROOT n=N",
                                   detail="no input/albedo image pairs with the same name")
    return names


@register_dataset("albedo_folder")
class AlbedoFolderDataModule(ImageDataModule):
    """Materialised pairs from disk (rendered by ``gan-lab albedo-synth`` or real)."""

    name = "albedo_folder"

    def __init__(self, root: str = "", image_size: int = 64, val_fraction: float = 0.05, test_fraction: float = 0.15,
                 cache: bool = True, **kw):
        super().__init__(root=root, image_size=image_size, **kw)
        self.channels, self.num_classes, self.class_names = 3, 0, []
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ConfigError(f"dataset.val_fraction={val_fraction}, dataset.test_fraction={test_fraction} are invalid; "
                              "allowed: both in (0, 1) with a sum < 1")
        self.fractions = (float(val_fraction), float(test_fraction))
        self.cache = bool(cache)

    def _load(self) -> dict[str, Dataset]:
        root = Path(self.root)
        if all((root / s).is_dir() for s in SPLITS):
            return {s: PairedFolder(root / s, paired_names(root / s), self.image_size, self.cache) for s in SPLITS}
        names = paired_names(root)
        if len(names) < 3:
            raise DatasetNotFoundError("albedo_folder", root, FOLDER_LAYOUT, "gan-lab albedo-synth out=ROOT n=N",
                                       detail=f"only {len(names)} pair(s); need at least 3 for train/val/test")
        perm = np.random.default_rng(self.split_seed).permutation(len(names))
        n_val = max(1, int(round(self.fractions[0] * len(names))))
        n_test = max(1, int(round(self.fractions[1] * len(names))))
        parts = {"val": perm[:n_val], "test": perm[n_val:n_val + n_test], "train": perm[n_val + n_test:]}
        return {s: PairedFolder(root, [names[i] for i in sorted(idx)], self.image_size, self.cache)
                for s, idx in parts.items()}

    def grid_inputs(self, n: int, seed: int = 0) -> dict:
        ds = self.dataset("val")
        return stack_items([ds[i] for i in range(min(n, len(ds)))])

    def describe(self) -> str:
        sizes = ", ".join(f"{s} {len(self.dataset(s))}" for s in SPLITS)
        return f"albedo_folder at {self.root}: {sizes} pairs; 3×{self.image_size}×{self.image_size}"


# ------------------------------------------------------------------------------------------ unpaired photos


def list_photos(path: str | Path) -> list[Path]:
    """An image file, or the images in a folder (sorted); ConfigError when there are none."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if is_image_path(p))
        if files:
            return files
        raise ConfigError(f"input={path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
    raise ConfigError(f"input={path}: no such file or folder")


class PhotoFolder(Dataset):
    """Unpaired photos at their own size: (image (3, H, W) in [-1, 1], path). Grayscale/RGBA become RGB."""

    def __init__(self, path: str | Path):
        self.paths = list_photos(path)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, Path]:
        return load_image(self.paths[i], 3), self.paths[i]


def to_unit(x: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)


__all__ = ["DIFFICULTY_TAGS", "AlbedoSynthDataModule", "AlbedoFolderDataModule", "PhotoFolder", "PairedFolder",
           "list_photos", "read_manifest", "render_items", "stack_items", "tags_of", "to_unit"]
