"""Data modules on small fake copies in the REAL on-disk formats, written here (nothing is downloaded).

CIFAR-100: real pickles with bytes keys (train, test, meta). RaFD: tiny JPEGs with real RaFD names.
folder: a class-folder tree with PNG and JPEG, grayscale and RGBA files. Pixel values encode the
row / subject / label, so each test checks that a specific file or row ends up with the right label.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, compose
from PIL import Image

from gan_lab.data import build_datamodule
from gan_lab.data.cifar100 import CIFAR100DataModule
from gan_lab.data.folder import FolderDataModule
from gan_lab.data.rafd import EXPRESSIONS, RaFDDataModule, parse_name
from gan_lab.errors import CorruptImageError, DatasetNotFoundError
from gan_lab.registry import ConfigError

SPLITS = ("train", "val", "test")


def _all(ds):
    """Every item of a dataset as stacked (images, labels)."""
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(xs), torch.stack([torch.as_tensor(y) for y in ys])


def _to_byte(v: torch.Tensor) -> int:
    return int(round((float(v) + 1) * 127.5))


# ---------------------------------------------------------------------------------------------- CIFAR-100

def _coarse(fine):
    return np.asarray(fine) // 5  # a fake but consistent fine -> coarse map


def write_cifar(root: Path, per_class: int = 4, n_test: int = 100) -> dict:
    """train: per_class rows of each of the 100 fine classes (shuffled); rows carry their index in pixels 0 and 1."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", 100 * per_class), ("test", n_test)):
        fine = rng.permutation(np.arange(n) % 100)
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        data[:, 0], data[:, 1] = np.arange(n) % 256, np.arange(n) // 256  # red, row 0, columns 0 and 1
        d = {b"batch_label": f"{split} fake".encode(), b"filenames": [f"{i}.png".encode() for i in range(n)],
             b"data": data, b"fine_labels": fine.tolist(), b"coarse_labels": _coarse(fine).tolist()}
        with open(root / split, "wb") as f:
            pickle.dump(d, f)
        out[split] = d
    meta = {b"fine_label_names": [f"fine{i:02d}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i:02d}".encode() for i in range(20)]}
    with open(root / "meta", "wb") as f:
        pickle.dump(meta, f)
    return out


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "cifar-100-python"
    return root, write_cifar(root)


def test_cifar100_pixels_labels_and_splits(cifar):
    root, raw = cifar
    dm = CIFAR100DataModule(root=str(root), val_fraction=0.25, split_seed=3)
    x, y = _all(dm.dataset("train"))
    assert x.shape == (300, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.99 and x.max() > 0.99
    assert len(dm.dataset("val")) == 100 and len(dm.dataset("test")) == 100
    assert dm.num_classes == 100 and dm.class_names[7] == "fine07" and dm.channels == 3
    # The row index written into red pixels (0,0) and (0,1) identifies the row: check its label and layout.
    data, fine = raw["train"][b"data"], np.array(raw["train"][b"fine_labels"])
    rows = {}
    for s in ("train", "val"):
        xs, ys = _all(dm.dataset(s))
        r = np.array([_to_byte(v[0, 0, 0]) + 256 * _to_byte(v[0, 0, 1]) for v in xs])
        rows[s] = r
        assert (ys.numpy() == fine[r]).all()
        # CIFAR layout: 1024 red, 1024 green, 1024 blue values, each row-major 32x32.
        k = 5
        assert _to_byte(xs[k, 0, 1, 3]) == data[r[k], 32 + 3]          # red, image row 1, column 3
        assert _to_byte(xs[k, 1, 0, 0]) == data[r[k], 1024]            # green, row 0, column 0
        assert _to_byte(xs[k, 2, 31, 30]) == data[r[k], 2048 + 31 * 32 + 30]  # blue, last row, column 30
    assert not set(rows["train"]) & set(rows["val"]) and len(set(rows["train"]) | set(rows["val"])) == 400
    assert np.bincount(fine[rows["val"]], minlength=100).tolist() == [1] * 100  # stratified: 1 of 4 per class
    # Deterministic in split_seed; another seed gives another val set.
    again = CIFAR100DataModule(root=str(root), val_fraction=0.25, split_seed=3)
    other = CIFAR100DataModule(root=str(root), val_fraction=0.25, split_seed=4)
    assert torch.equal(_all(again.dataset("val"))[0], _all(dm.dataset("val"))[0])
    assert not torch.equal(_all(other.dataset("val"))[0], _all(dm.dataset("val"))[0])


def test_cifar100_coarse_labels_resize_and_parent_root(cifar):
    root, raw = cifar
    fine_dm = CIFAR100DataModule(root=str(root), val_fraction=0.25)
    dm = CIFAR100DataModule(root=str(root.parent), label="coarse", image_size=64, val_fraction=0.25)
    dm.setup()
    assert dm.num_classes == 20 and dm.class_names[19] == "coarse19"
    x, y = _all(dm.dataset("test"))
    assert x.shape == (100, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert (y.numpy() == np.array(raw["test"][b"coarse_labels"])).all()
    # Same split for fine and coarse; the coarse label of each item is the coarse class of its fine label.
    _, yf = _all(fine_dm.dataset("val"))
    _, yc = _all(dm.dataset("val"))
    assert (yc.numpy() == _coarse(yf.numpy())).all() and int(yc.max()) >= 15


def test_cifar100_missing_corrupt_and_bad_values(tmp_path, cifar):
    with pytest.raises(DatasetNotFoundError) as e:
        CIFAR100DataModule(root=str(tmp_path / "nowhere")).setup()
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "no such directory" in msg
    assert "cifar-100-python.tar.gz" in msg and "<root>/meta" in msg
    bad = tmp_path / "bad"
    write_cifar(bad, per_class=1, n_test=10)
    (bad / "test").rename(tmp_path / "test.moved")
    with pytest.raises(DatasetNotFoundError, match=r"bad \(missing file\(s\): test\)"):
        CIFAR100DataModule(root=str(bad)).setup()
    (tmp_path / "test.moved").rename(bad / "test")
    (bad / "meta").write_bytes(b"not a pickle")
    with pytest.raises(CorruptImageError, match=r"bad/meta"):
        CIFAR100DataModule(root=str(bad)).setup()
    with pytest.raises(ConfigError, match=r"dataset.label='medium'.*fine, coarse"):
        CIFAR100DataModule(root=str(bad), label="medium")
    with pytest.raises(ConfigError, match=r"dataset.val_fraction"):
        CIFAR100DataModule(root=str(bad), val_fraction=1.5)


# --------------------------------------------------------------------------------------------------- RaFD

RAFD_W, RAFD_H = 68, 102  # 1/10 of the real 681x1024
ETHNIC = {1: "Caucasian", 2: "Moroccan", 3: "Caucasian", 4: "Kid", 5: "Moroccan", 6: "Caucasian"}


def rafd_color(subject: int, label: int) -> tuple[int, int, int]:
    return (20 + 28 * label, 30 + 30 * subject, 128)


def write_rafd(root: Path, subjects=range(1, 7)) -> None:
    """Per subject: 8 expressions x gazes frontal/left x angles 090/045; inside the default face box the
    colour encodes (label, subject), outside it is white."""
    root.mkdir(parents=True)
    for s in subjects:
        for label, expr in enumerate(EXPRESSIONS):
            img = Image.new("RGB", (RAFD_W, RAFD_H), (255, 255, 255))
            img.paste(Image.new("RGB", (54, 54), rafd_color(s, label)), (7, 15))  # = box [0.1, 0.15, 0.9, 0.682]
            for angle in ("090", "045"):
                for gaze in ("frontal", "left"):
                    g = "female" if s % 2 else "male"
                    img.save(root / f"Rafd{angle}_{s:02d}_{ETHNIC[s]}_{g}_{expr}_{gaze}.jpg", quality=95)
    (root / "README.txt").write_text("not an image")
    (root / "Rafd090_01_Caucasian_female_bored_frontal.jpg").write_bytes(b"unknown expression: skipped")
    (root / "holiday.jpg").write_bytes(b"not a RaFD name: skipped")


@pytest.fixture(scope="module")
def rafd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "rafd"
    write_rafd(root)
    return root


def _subjects(ds) -> set[int]:
    return {parse_name(p.name)["subject"] for p in ds.paths}


def test_rafd_labels_crop_filters_and_subject_split(rafd_root):
    dm = RaFDDataModule(root=str(rafd_root), image_size=16)
    counts = {s: len(dm.dataset(s)) for s in SPLITS}
    assert sum(counts.values()) == 6 * 8  # default: angle 090, frontal gaze only
    assert all(parse_name(p.name)["angle"] == 90 and p.name.endswith("_frontal.jpg")
               for s in SPLITS for p in dm.dataset(s).paths)
    assert dm.num_classes == 8 and dm.class_names[1] == "contemptuous"
    for s in SPLITS:
        ds = dm.dataset(s)
        x, y = _all(ds)
        assert x.shape == (len(ds), 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.min() >= -1 and x.max() <= 1
        for k, p in enumerate(ds.paths):
            f = parse_name(p.name)
            assert y[k] == EXPRESSIONS.index(f["expression"]) == f["label"]
            # The default face box holds only the face colour: no white border left after the crop.
            want = torch.tensor(rafd_color(f["subject"], f["label"]), dtype=torch.float32) / 127.5 - 1
            assert torch.allclose(x[k].mean(dim=(1, 2)), want, atol=0.05), p.name
    # Subject-disjoint splits covering every subject; 6 subjects -> val 1, test 1, train 4.
    subj = {s: _subjects(dm.dataset(s)) for s in SPLITS}
    assert [len(subj[s]) for s in SPLITS] == [4, 1, 1]
    assert set.union(*subj.values()) == set(range(1, 7)) and sum(map(len, subj.values())) == 6
    assert "3 skipped" in dm.describe() and "144 files filtered out" in dm.describe()
    # Deterministic in split_seed; some other seed moves a subject.
    assert {s: _subjects(RaFDDataModule(root=str(rafd_root), split_seed=0).dataset(s)) for s in SPLITS} == subj
    others = [{s: _subjects(RaFDDataModule(root=str(rafd_root), split_seed=k).dataset(s)) for s in SPLITS}
              for k in (1, 2, 3)]
    assert any(o != subj for o in others)
    # Without the face box (largest central square) the white border shows: the mean is brighter.
    plain = RaFDDataModule(root=str(rafd_root), image_size=16, crop=None).dataset("train")
    assert plain[0][0].mean() > dm.dataset("train")[0][0].mean() + 0.1
    centre = RaFDDataModule(root=str(rafd_root), image_size=16, crop=40).dataset("train")
    assert centre[0][0].shape == (3, 16, 16)


def test_rafd_filter_options(rafd_root):
    every = RaFDDataModule(root=str(rafd_root), image_size=8, angles="all", gazes="all")
    assert sum(len(every.dataset(s)) for s in SPLITS) == 6 * 8 * 4
    side = RaFDDataModule(root=str(rafd_root), image_size=8, angles=["045"], gazes=["left"])
    paths = [p.name for s in SPLITS for p in side.dataset(s).paths]
    assert len(paths) == 48 and all(n.startswith("Rafd045_") and n.endswith("_left.jpg") for n in paths)
    # Filters never move a person to another split.
    assert {s: _subjects(side.dataset(s)) for s in SPLITS} == {s: _subjects(every.dataset(s)) for s in SPLITS}
    with pytest.raises(ConfigError, match=r"dataset.angles=\[30\].*0, 45, 90, 135, 180"):
        RaFDDataModule(root=str(rafd_root), angles=[30])
    with pytest.raises(ConfigError, match=r"dataset.gazes.*frontal, left, right"):
        RaFDDataModule(root=str(rafd_root), gazes=["up"])
    with pytest.raises(ConfigError, match=r"dataset.crop"):
        RaFDDataModule(root=str(rafd_root), crop=[0.5, 0.0, 0.4, 1.0])
    with pytest.raises(ConfigError, match=r"dataset.angles=\[135\].*present here"):
        RaFDDataModule(root=str(rafd_root), angles=[135]).setup()


def test_load_resized_matches_full_decode(tmp_path):
    """The fast path (JPEG draft decoding, PIL crop + resize in 8 bits) agrees with an independent float
    pipeline: full decode, tensor crop of the same pixel box, torch antialiased resize."""
    from gan_lab.data.base import resize_square
    from gan_lab.data.images import load_resized, parse_crop
    from gan_lab.imaging import load_image

    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 256, (24, 16, 3), dtype=np.uint8)).resize((340, 512), Image.BICUBIC)
    for ext in ("jpg", "png"):
        path = tmp_path / f"face.{ext}"
        smooth.save(path)
        full = load_image(path, 3)
        # Default RaFD box on 340x512: x 34..306, y 77..349 (272x272 px), hand-computed from the fractions.
        for crop, (x0, y0, x1, y1) in (([0.1, 0.15, 0.9, 0.682], (34, 77, 306, 349)), (None, (0, 86, 340, 426)),
                                       (200, (70, 156, 270, 356))):
            want = resize_square(full[None, :, y0:y1, x0:x1], 32)[0]
            got = load_resized(path, 3, 32, parse_crop(crop)).float() / 127.5 - 1
            assert got.shape == (3, 32, 32)
            assert (got - want).abs().mean() < 0.01 and (got - want).abs().max() < 0.08, (ext, crop)


def test_rafd_missing_and_corrupt(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        RaFDDataModule(root=str(tmp_path / "rafd")).setup()
    assert str(tmp_path / "rafd") in str(e.value) and "rafd.socsci.ru.nl" in str(e.value)
    assert "Rafd090_01_Caucasian_female_angry_frontal.jpg" in str(e.value)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetNotFoundError, match=r"none of its 1 files is named like a RaFD image"):
        RaFDDataModule(root=str(junk)).setup()
    root = tmp_path / "rafd2"
    write_rafd(root, subjects=range(1, 5))
    bad = root / "Rafd090_03_Caucasian_female_sad_frontal.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated JPEG
    dm = RaFDDataModule(root=str(root), image_size=8, cache=False)
    with pytest.raises(CorruptImageError, match="Rafd090_03_Caucasian_female_sad_frontal.jpg"):
        for s in SPLITS:
            _all(dm.dataset(s))


# ------------------------------------------------------------------------------------------------- folder

CLASS_RGB = {"cat": (200, 30, 30), "dog": (30, 200, 30), "emu": (30, 30, 200)}


def write_folder(root: Path, per_class: int = 10, size=(20, 24)) -> None:
    """Each class: PNG and JPEG in its colour, plus one grayscale PNG and one RGBA PNG (transparent: white)."""
    for c, rgb in CLASS_RGB.items():
        d = root / c
        d.mkdir(parents=True)
        for i in range(per_class - 2):
            Image.new("RGB", size, rgb).save(d / f"{i:02d}.{'png' if i % 2 else 'jpg'}")
        Image.new("L", size, 100).save(d / "gray.png")
        Image.new("RGBA", size, (*rgb, 0)).save(d / "alpha.PNG")
        (d / "notes.txt").write_text("skipped")


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "folder"
    write_folder(root)
    return root


def test_folder_tree_labels_channels_and_split(folder_root):
    dm = FolderDataModule(root=str(folder_root), image_size=16, val_fraction=0.2, test_fraction=0.3, split_seed=1)
    dm.setup()
    assert dm.class_names == ["cat", "dog", "emu"] and dm.num_classes == 3 and dm.channels == 3
    # Stratified 10 per class: val 2, test 3, train 5 per class.
    assert [len(dm.dataset(s)) for s in SPLITS] == [15, 6, 9]
    paths = {s: set(dm.dataset(s).paths) for s in SPLITS}
    assert not (paths["train"] & paths["val"] or paths["train"] & paths["test"] or paths["val"] & paths["test"])
    assert len(set.union(*paths.values())) == 30 and "3 non-image files skipped" in dm.describe()
    for s in SPLITS:
        ds = dm.dataset(s)
        x, y = _all(ds)
        assert x.shape == (len(ds), 3, 16, 16) and x.min() >= -1 and x.max() <= 1 and y.dtype == torch.int64
        for k, p in enumerate(ds.paths):
            assert dm.class_names[int(y[k])] == p.parent.name
            if p.name == "gray.png":
                want = (100, 100, 100)
            elif p.name == "alpha.PNG":
                want = (255, 255, 255)  # fully transparent -> composited on white
            else:
                want = CLASS_RGB[p.parent.name]
            assert torch.allclose(x[k].mean(dim=(1, 2)), torch.tensor(want) / 127.5 - 1, atol=0.04), p
    again = FolderDataModule(root=str(folder_root), image_size=16, val_fraction=0.2, test_fraction=0.3, split_seed=1)
    other = FolderDataModule(root=str(folder_root), image_size=16, val_fraction=0.2, test_fraction=0.3, split_seed=2)
    assert set(again.dataset("test").paths) == paths["test"] and set(other.dataset("test").paths) != paths["test"]
    gray = FolderDataModule(root=str(folder_root), image_size=8, channels=1)
    x, _ = gray.dataset("train")[0]
    assert gray.channels == 1 and x.shape == (1, 8, 8)


def test_folder_presplit_layout(tmp_path):
    for s in ("train", "test"):
        write_folder(tmp_path / s, per_class=5)
    dm = FolderDataModule(root=str(tmp_path), image_size=8, val_fraction=0.2)
    assert "pre-split" in dm.describe()
    # test as given (15); val carved from train (1 of 5 per class).
    assert [len(dm.dataset(s)) for s in SPLITS] == [12, 3, 15]
    assert all(p.parts[-3] == "test" for p in dm.dataset("test").paths)
    assert all(p.parts[-3] == "train" for s in ("train", "val") for p in dm.dataset(s).paths)


def test_folder_missing_corrupt_and_bad_values(tmp_path, folder_root):
    with pytest.raises(DatasetNotFoundError) as e:
        FolderDataModule(root=str(tmp_path / "none")).setup()
    assert str(tmp_path / "none") in str(e.value) and "<root>/<class name>/<image>" in str(e.value)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no class folder with images"):
        FolderDataModule(root=str(tmp_path / "empty")).setup()
    root = tmp_path / "tree"
    write_folder(root, per_class=4)
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    dm = FolderDataModule(root=str(root), image_size=8, val_fraction=0.25, test_fraction=0.25)
    with pytest.raises(CorruptImageError, match=r"dog/broken.png"):
        for s in SPLITS:
            _all(dm.dataset(s))
    with pytest.raises(ConfigError, match=r"dataset.channels=2.*1, 3"):
        FolderDataModule(root=str(root), channels=2)
    with pytest.raises(ConfigError, match=r"dataset.test_fraction"):
        FolderDataModule(root=str(root), val_fraction=0.5, test_fraction=0.6)


def test_build_datamodule_rejects_unknown_keys(folder_root):
    base = {"name": "folder", "root": str(folder_root), "image_size": 8, "batch_size": 4}
    assert isinstance(build_datamodule(base), FolderDataModule)
    with pytest.raises(ConfigError, match=r"dataset.labels is not an option of dataset=folder.*channels"):
        build_datamodule({**base, "labels": "fine"})
    with pytest.raises(ConfigError, match=r"dataset.label is not an option of dataset=rafd"):
        build_datamodule({**base, "name": "rafd", "label": "fine"})
    with pytest.raises(ConfigError, match=r"dataset='imagenet'.*allowed:.*cifar100.*digits.*folder.*rafd"):
        build_datamodule({**base, "name": "imagenet"})


def test_configs_compose_and_build(tmp_path, folder_root, cifar, rafd_root):
    """Each conf/dataset/*.yaml composes and its keys are exactly the module's options."""
    roots = {"folder": folder_root, "cifar100": cifar[0], "rafd": rafd_root}
    for name, root in roots.items():
        extra = ["dataset.val_fraction=0.25"] if name == "cifar100" else []  # fake CIFAR: 4 rows per class
        cfg = compose([f"dataset={name}", f"dataset.root={root}", "dataset.image_size=16", *extra], tmp_path / name,
                      tmp_path)
        dm = build_datamodule(cfg.dataset)
        assert len(dm.dataset("test")) > 0 and dm.dataset("val")[0][0].shape[-1] == 16
    cfg = compose(["dataset=rafd", "dataset.crop=300", "dataset.angles=all"], tmp_path / "r", tmp_path)
    assert cfg.dataset.crop == 300 and cfg.dataset.angles == "all"
    assert str(cfg.dataset.root).endswith("datasets/rafd")


def test_train_two_steps_on_folder(tmp_path, cache_dir, folder_root):
    from gan_lab.train import train

    overrides = [*TINY, "logger=none", "dataset=folder", f"dataset.root={folder_root}", "trainer.max_steps=2",
                 "eval.final_metrics=[gan_test]", "eval.final_n_samples=24"]
    metrics, objs = train(compose(overrides, tmp_path / "run", cache_dir))
    assert objs["trainer"].global_step == 2 and objs["datamodule"].num_classes == 3
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert 0.0 <= metrics["gan_test"] <= 1.0


def test_hflip_flips_training_items_only_and_about_half_of_them():
    from gan_lab.data import build_datamodule

    dm = build_datamodule({"name": "digits", "image_size": 16, "batch_size": 8, "hflip": True})
    dm.setup()
    base = dm.dataset("train")
    dl = dm.train_dataloader()
    n = len(base)
    order = dl.sampler.order(0)
    assert sorted(int(i) % n for i in order) == list(range(n))  # every image once per epoch
    assert 0.4 < float((order >= n).float().mean()) < 0.6  # about half of them flipped
    x, y = next(iter(dl))
    for k, i in enumerate(order[:8].tolist()):
        img, label = base[i % n]
        assert int(y[k]) == int(label)
        assert torch.equal(x[k], img.flip(-1) if i >= n else img)
    assert not torch.equal(dl.sampler.order(0), dl.sampler.order(1))  # a new order (and flips) every epoch
    xv, _ = next(iter(dm.val_dataloader()))
    torch.testing.assert_close(xv, torch.stack([dm.dataset("val")[i][0] for i in range(xv.size(0))]), rtol=0, atol=0)
    off = build_datamodule({"name": "digits", "image_size": 16, "batch_size": 8})
    assert off.train_dataloader().dataset is off.dataset("train") and (off.train_dataloader().sampler.order(0) < len(
        off.dataset("train"))).all()  # off by default (digits)


def test_epoch_sampler_shards_ranks_and_resumes_mid_epoch():
    from gan_lab.data.sampling import EpochSampler

    whole = EpochSampler(40, seed=3)
    r0, r1 = EpochSampler(40, seed=3, rank=0, world_size=2), EpochSampler(40, seed=3, rank=1, world_size=2)
    assert set(r0.order(0).tolist()).isdisjoint(r1.order(0).tolist())  # each rank sees different data
    assert sorted(r0.order(0).tolist() + r1.order(0).tolist()) == list(range(40))
    whole.set_epoch(1)
    full = list(iter(whole))
    resumed = EpochSampler(40, seed=3)
    resumed.resume(batches_done=13, batch_size=4)  # 10 batches per epoch: 3 batches into epoch 1
    assert resumed.epoch == 1 and list(iter(resumed)) == full[12:]
    assert list(iter(resumed)) == full  # the skip applies once
    at_end = EpochSampler(40, seed=3)
    at_end.resume(batches_done=10, batch_size=4)  # checkpoint on epoch 0's last batch: epoch 1 from its start
    assert at_end.epoch == 1 and list(iter(at_end)) == full
