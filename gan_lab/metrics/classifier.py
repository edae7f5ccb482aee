"""The evaluation classifier's lifecycle: train, predict, score, and a disk cache of the reference one.

The reference classifier (trained on real training data) judges every run: GAN-test, the scores,
and the ``_clf`` feature metrics. It is trained once per (data, hyper-parameters, seed, code) and
cached as ``<cache_dir>/<key>.pt`` with a readable ``<key>.json`` sidecar. The key hashes
everything that determines the trained weights, including a cheap fingerprint of the data (length
and a few samples) and the source of this file and of the network, so a change retrains.

Training is deterministic given ``seed`` (own RNG streams; the caller's global RNG is untouched).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from gan_lab.imaging import device_of as _device_of
from gan_lab.progress import progress as progress_bar

CACHE_VERSION = 2  # 2: the data fingerprint hashes every sample


def build_eval_classifier(channels: int, num_classes: int, image_size: int, width: int = 32,
                          feature_dim: int = 128, max_input: int = 0) -> nn.Module:
    """The evaluation classifier architecture (``gan_lab.nets.classifier.EvalClassifier``)."""
    from gan_lab.nets.classifier import EvalClassifier

    return EvalClassifier(channels, num_classes, image_size, width=width, feature_dim=feature_dim, max_input=max_input)




def fetch(dataset: Dataset, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Images and int64 labels of ``dataset[indices]`` (labels may be ints or 0-d tensors)."""
    if isinstance(dataset, TensorDataset):
        idx = torch.as_tensor(indices, dtype=torch.long)
        return dataset.tensors[0][idx].float(), dataset.tensors[1][idx].long()
    items = [dataset[int(i)] for i in indices]
    xs = torch.stack([torch.as_tensor(x).float() for x, _ in items])
    return xs, torch.tensor([int(y) for _, y in items], dtype=torch.long)


def _batch_indices(n: int, batch_size: int, steps: int, gen: torch.Generator) -> Iterator[list[int]]:
    """``steps`` batches from consecutive random permutations of range(n) (every sample once per epoch)."""
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while order.numel() < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=gen)])
        yield order[:batch_size].tolist()
        order = order[batch_size:]


def random_shift(x: Tensor, pad: int, gen: torch.Generator) -> Tensor:
    """Translate each image by up to ``pad`` pixels (replicate padding): light, label-preserving."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
    return torch.stack([xp[i, :, dy[i]: dy[i] + h, dx[i]: dx[i] + w] for i in range(n)])


def _lr_factor(step: int, steps: int) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 0."""
    warm = max(1, steps // 20)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


def train_classifier(dataset: Dataset, num_classes: int, channels: int, image_size: int, steps: int,
                     batch_size: int = 64, lr: float = 2e-3, seed: int = 0, width: int = 32,
                     feature_dim: int = 128, augment: bool = True, weight_decay: float = 0.0,
                     device: str | torch.device | None = None, progress: bool = True, max_input: int = 0) -> nn.Module:
    """Train an evaluation classifier from scratch: Adam, warm-up + cosine schedule, random shifts.

    Deterministic given ``seed`` on a given machine. Returns the model in eval mode.
    """
    if len(dataset) == 0:
        raise ValueError("train_classifier: the training dataset is empty")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    with torch.random.fork_rng(devices=[] if dev.type == "cpu" else [dev]):
        torch.manual_seed(seed)
        model = build_eval_classifier(channels, num_classes, image_size, width, feature_dim, max_input).to(dev)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps))
        pad = max(1, image_size // 16)
        model.train()
        bar = progress_bar(_batch_indices(len(dataset), batch_size, steps, gen), total=steps,
                   desc="train eval classifier", disable=not progress, leave=False)
        for i, idx in enumerate(bar):
            x, y = fetch(dataset, idx)
            if augment:
                x = random_shift(x, pad, gen)
            loss = F.cross_entropy(model(x.to(dev)), y.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if i % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """(predicted labels (N,), soft-max probabilities (N, K)) on CPU."""
    was_training = model.training
    model.eval()
    dev = _device_of(model)
    try:
        probs = [F.softmax(model(x.float().to(dev)).float(), dim=1).cpu() for x in torch.split(images, batch_size)]
    finally:
        model.train(was_training)
    p = torch.cat(probs)
    return p.argmax(1), p


@torch.no_grad()
def accuracy(model: nn.Module, images_or_dataset: Tensor | Dataset, labels: Tensor | None = None,
             batch_size: int = 256) -> float:
    """Top-1 accuracy on image/label tensors or on a dataset of (image, label) items."""
    if isinstance(images_or_dataset, Tensor):
        if labels is None:
            raise ValueError("accuracy(model, images, labels): labels are required with an image tensor")
        pred, _ = predict(model, images_or_dataset, batch_size)
        return float((pred == labels.long().cpu()).double().mean())
    ds, correct = images_or_dataset, 0
    for start in range(0, len(ds), batch_size):
        x, y = fetch(ds, range(start, min(start + batch_size, len(ds))))
        pred, _ = predict(model, x, batch_size)
        correct += int((pred == y).sum())
    return correct / len(ds)


# ---------------------------------------------------------------- reference classifier cache


def _jsonable(obj: Any) -> Any:
    """Plain JSON types from dicts/lists/DictConfigs/paths, for hashing and the sidecar."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or (isinstance(obj, Sequence) and not isinstance(obj, (str, bytes))):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def data_fingerprint(dataset: Dataset) -> dict:
    """Length plus a hash of every sample (image values and label): a replaced or edited image anywhere in the
    split changes the key, so a stale judge is never reused (a hash of three samples missed such edits)."""
    h = hashlib.sha256()
    n = len(dataset)
    for start in range(0, n, 256):
        x, y = fetch(dataset, range(start, min(start + 256, n)))
        h.update(x.contiguous().numpy().tobytes())
        h.update(y.numpy().astype("<i8").tobytes())
    return {"len": n, "sha256": h.hexdigest()[:16]}


def code_fingerprint(model_cls: type) -> str:
    """Hash of this file's and the network's source: editing the training code or the net retrains."""
    h = hashlib.sha256()
    for mod in (sys.modules[__name__], inspect.getmodule(model_cls)):
        try:
            h.update(inspect.getsource(mod).encode())
        except (OSError, TypeError):
            h.update(f"{model_cls.__module__}.{model_cls.__qualname__}".encode())
    return h.hexdigest()[:16]


def cache_key(key_info: Mapping) -> str:
    return hashlib.sha256(json.dumps(_jsonable(key_info), sort_keys=True).encode()).hexdigest()[:16]


def _build_quietly(*args) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        return build_eval_classifier(*args)


def _atomic_write(path: Path, write) -> None:
    """Write to a unique temp file beside ``path`` then os.replace: racing processes never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def reference_classifier(train_dataset: Dataset, test_dataset: Dataset, *, num_classes: int, channels: int,
                         image_size: int, cache_dir: str | os.PathLike, key_info: Mapping, seed: int, steps: int,
                         batch_size: int = 64, lr: float = 2e-3, width: int = 32, feature_dim: int = 128,
                         augment: bool = True, progress: bool = True, max_input: int = 0) -> tuple[nn.Module, float]:
    """(model on CPU in eval mode, real test accuracy): loaded from ``<cache_dir>/<key>.pt`` or trained and saved.

    The model gets a ``cache_key`` attribute, recorded as the provenance of ``_clf`` metrics.
    """
    hparams = dict(num_classes=num_classes, channels=channels, image_size=image_size, seed=seed, steps=steps,
                   batch_size=batch_size, lr=lr, width=width, feature_dim=feature_dim, augment=augment)
    if 0 < max_input < image_size:  # only where it changes the network: other cached classifiers keep their key
        hparams["max_input"] = max_input
    arch = (channels, num_classes, image_size, width, feature_dim, max_input)
    full_key = {
        "version": CACHE_VERSION, "key_info": _jsonable(key_info), "hparams": hparams,
        "train_data": data_fingerprint(train_dataset), "test_data": data_fingerprint(test_dataset),
        "code": code_fingerprint(type(_build_quietly(*arch))),
    }
    key = cache_key(full_key)
    cache = Path(cache_dir)
    path = cache / f"{key}.pt"
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            model = _build_quietly(*arch)
            model.load_state_dict(payload["state_dict"])
            model.cache_key = key
            return model.eval(), float(payload["test_accuracy"])
        except Exception as e:  # a corrupt or foreign file: retrain and overwrite
            print(f"[gan_lab] evaluation classifier cache {path} unreadable ({e}); retraining", file=sys.stderr)
    t0 = time.time()
    model = train_classifier(train_dataset, num_classes, channels, image_size, steps, batch_size=batch_size, lr=lr,
                             seed=seed, width=width, feature_dim=feature_dim, augment=augment, progress=progress,
                             max_input=max_input)
    model = model.cpu()  # as a cache load returns it: the same object either way
    test_acc = accuracy(model, test_dataset)
    cache.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "test_accuracy": float(test_acc), "key": key,
               "key_info_json": json.dumps(full_key, sort_keys=True)}
    _atomic_write(path, lambda p: torch.save(payload, p))
    sidecar = {"key": key, "test_accuracy": float(test_acc), "train_seconds": round(time.time() - t0, 2),
               "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **full_key}
    _atomic_write(cache / f"{key}.json", lambda p: p.write_text(json.dumps(sidecar, indent=2, sort_keys=True)))
    model.cache_key = key
    return model, float(test_acc)
