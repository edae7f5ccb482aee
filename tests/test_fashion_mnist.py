"""Fashion-MNIST from tiny IDX files written here in the official format (big-endian header, uint8 values),
gzipped as distributed and plain: pixels, labels, splits, the data-efficient subset and every failure."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from gan_lab.data import build_datamodule
from gan_lab.data.fashion_mnist import FILES, FashionMNISTDataModule
from gan_lab.errors import CorruptImageError, DatasetNotFoundError
from gan_lab.registry import ConfigError

from conftest import compose


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file as LeCun's page defines it, written independently of the reader."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(root, split: str, images: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    for name, array in zip(FILES[split], (images, labels)):
        data = idx_bytes(array)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)


def fake_fashion(root, n_train_per_class=10, n_test_per_class=3, gz=True, seed=0):
    """Images whose pixel (0, 0) is the label and pixel (27, 27) the index: each item can be traced back."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, per in (("train", n_train_per_class), ("test", n_test_per_class)):
        labels = rng.permutation(np.repeat(np.arange(10), per)).astype(np.uint8)
        images = rng.integers(0, 256, size=(len(labels), 28, 28)).astype(np.uint8)
        images[:, 0, 0] = labels * 20
        images[:, 27, 27] = np.arange(len(labels)) % 256
        write_split(root, split, images, labels, gz)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_pixels_labels_and_official_splits(tmp_path, gz):
    raw = fake_fashion(tmp_path / "fm", gz=gz)
    dm = FashionMNISTDataModule(root=str(tmp_path / "fm"), image_size=28, val_fraction=0.2, split_seed=1)
    dm.setup()
    train, val, test = (dm.dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (80, 20, 30)  # val carved from train; test = the t10k files
    assert np.bincount(val.labels.numpy(), minlength=10).tolist() == [2] * 10  # stratified
    x, y = test[5]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and int(y) == int(raw["test"][1][5])
    expected = torch.from_numpy(raw["test"][0][5].astype(np.float32)) / 127.5 - 1
    assert torch.allclose(x[0], expected)  # uint8 0..255 -> [-1, 1], row-major as stored
    for ds in (train, val):  # every train/val item is an official training image with its own label
        for i in range(len(ds)):
            x, y = ds[i]
            k = int(round((x[0, 27, 27].item() + 1) * 127.5))
            assert int(y) == int(raw["train"][1][k]) and int(round((x[0, 0, 0].item() + 1) * 127.5)) == 20 * int(y)
    train_ids = {int(round((train[i][0][0, 27, 27].item() + 1) * 127.5)) for i in range(len(train))}
    val_ids = {int(round((val[i][0][0, 27, 27].item() + 1) * 127.5)) for i in range(len(val))}
    assert not train_ids & val_ids and len(train_ids | val_ids) == 100
    assert dm.class_names[9] == "Ankle boot" and dm.num_classes == 10 and dm.channels == 1


def test_resize_split_seed_and_train_fraction(tmp_path):
    fake_fashion(tmp_path / "fm")
    root = str(tmp_path / "fm")
    a = FashionMNISTDataModule(root=root, val_fraction=0.2, split_seed=0)
    b = FashionMNISTDataModule(root=root, val_fraction=0.2, split_seed=0)
    c = FashionMNISTDataModule(root=root, val_fraction=0.2, split_seed=1)
    assert a.dataset("val")[0][0].shape == (1, 32, 32)  # the default image_size
    assert torch.equal(a.dataset("val").labels, b.dataset("val").labels)
    assert torch.equal(a.dataset("val").images, b.dataset("val").images)
    assert not torch.equal(a.dataset("val").images, c.dataset("val").images)
    small = FashionMNISTDataModule(root=root, val_fraction=0.2, train_fraction=0.25)
    labels = [int(small.dataset("train")[i][1]) for i in range(len(small.dataset("train")))]
    assert np.bincount(labels, minlength=10).tolist() == [2] * 10  # ceil(0.25 * 8) per class
    assert len(small.reference_train()) == 80  # the judge still sees the whole training split


def test_missing_files_are_one_line_naming_the_package(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        FashionMNISTDataModule(root=str(tmp_path / "nowhere")).setup()
    msg = str(err.value)
    assert "\n" not in msg and "apt-get install dataset-fashion-mnist" in msg
    assert all(n in msg for names in FILES.values() for n in names)
    fake_fashion(tmp_path / "fm", gz=False)
    (tmp_path / "fm" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing t10k-labels-idx1-ubyte \(") as err:
        FashionMNISTDataModule(root=str(tmp_path / "fm")).setup()
    assert "train-images" not in str(err.value)


@pytest.mark.parametrize("damage", ["truncated", "header", "type", "count", "label", "gzip"])
def test_damaged_files_name_the_file(tmp_path, damage):
    raw = fake_fashion(tmp_path / "fm", gz=False)
    images, labels = raw["train"]
    path = tmp_path / "fm" / "train-images-idx3-ubyte"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-5])
    elif damage == "header":
        path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    elif damage == "type":
        data = bytearray(path.read_bytes())
        data[2] = 0x0D  # float
        path.write_bytes(bytes(data))
    elif damage == "count":
        write_split(tmp_path / "fm", "train", images[:-1], labels, gz=False)
    elif damage == "label":
        write_split(tmp_path / "fm", "train", images, np.where(labels == 3, 10, labels), gz=False)
        path = tmp_path / "fm" / "train-labels-idx1-ubyte"
    else:
        path.unlink()
        path = tmp_path / "fm" / "train-images-idx3-ubyte.gz"
        path.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptImageError) as err:
        FashionMNISTDataModule(root=str(tmp_path / "fm")).setup()
    assert path.name in str(err.value) and "dataset-fashion-mnist" in str(err.value)


def test_bad_values_and_the_composed_config(tmp_path):
    fake_fashion(tmp_path / "fm")
    with pytest.raises(ConfigError, match="val_fraction"):
        FashionMNISTDataModule(root=str(tmp_path / "fm"), val_fraction=0)
    cfg = compose(["dataset=fashion_mnist", f"dataset.root={tmp_path / 'fm'}", "dataset.val_fraction=0.2"],
                  tmp_path / "run", tmp_path)
    dm = build_datamodule(cfg.dataset)
    assert isinstance(dm, FashionMNISTDataModule) and len(dm.dataset("test")) == 30
    default = compose(["dataset=fashion_mnist"], tmp_path / "run2", tmp_path)
    assert default.dataset.root == "/usr/share/datasets/fashion-mnist"  # where Debian's package puts the files
