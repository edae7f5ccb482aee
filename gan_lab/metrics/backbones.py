"""Feature extractors for FID/KID behind one interface, registered by name.

A ``FeatureExtractor`` has a ``name`` (its provenance, recorded next to every number it makes) and
maps images in [-1, 1], shape (N, C, H, W), to float64 features (N, D).

* ``classifier``: the evaluation classifier's penultimate features. Works offline. Metrics on it
  carry a ``_clf`` suffix (``fid_clf``) and must never be reported as plain FID.
* ``inception``: the FID InceptionV3 of torch-fidelity, run through torchmetrics' wrapper. Needs the
  optional extra (``pip install gan_lab[inception]``) and the weights: a local file
  (``eval.inception_weights=PATH``) or torchmetrics' download on a connected machine. Missing
  pieces raise ``BackboneUnavailableError`` naming what is missing; there is no silent fallback.
  Resize to 299 px is pinned and recorded (``inception_resize`` next to every number):
  ``legacy`` (default) is torch-fidelity's TF-1.x-compatible bilinear resize, the one published FIDs
  were computed with; ``antialias`` is ``torch.nn.functional.interpolate(bilinear, antialias=True)``,
  torchmetrics' default since 1.8. The two give different features (different sampling grids when
  upsampling small images, plus a low-pass when downsampling large ones), hence different FIDs: never
  compare numbers across the two. torchmetrics < 1.8 only has ``legacy``.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from gan_lab.imaging import device_of as _device_of, to_uint8
from gan_lab.progress import progress as progress_bar
from gan_lab.registry import ConfigError, Registry

BACKBONES: Registry[Callable[..., "FeatureExtractor"]] = Registry("feature backbone", "eval.backbone")

INCEPTION_RESIZE = ("legacy", "antialias")
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"


class BackboneUnavailableError(ConfigError):
    """A requested backbone cannot run here (missing package or weights); the message says how to fix it."""


class FeatureExtractor:
    """Base: ``name`` for provenance, ``__call__(images in [-1, 1]) -> (N, D) float64``, batched, no grad."""

    name: str = "base"
    batch_size: int = 256

    def extract(self, images: Tensor) -> Tensor:  # one batch, images in [-1, 1]
        raise NotImplementedError

    def info(self) -> dict:
        """Extra provenance recorded with metrics made on this backbone."""
        return {}

    @torch.no_grad()
    def __call__(self, images: Tensor, progress: bool = False) -> Tensor:
        if images.dim() != 4:
            raise ValueError(f"{self.name}: expected images (N, C, H, W), got shape {tuple(images.shape)}")
        chunks = torch.split(images, self.batch_size)
        # delay: the bar appears only when feature extraction takes more than a couple of seconds
        out = [self.extract(c).double().cpu() for c in progress_bar(chunks, desc=f"features [{self.name}]",
                                                            disable=not progress, leave=False, delay=2)]
        return torch.cat(out) if out else torch.zeros(0, 0, dtype=torch.float64)




class ClassifierFeatures(FeatureExtractor):
    """Penultimate features (``model.features``) of the evaluation classifier."""

    def __init__(self, model: nn.Module, key: str | None = None, batch_size: int = 256):
        if not hasattr(model, "features"):
            raise TypeError(f"{type(model).__name__} has no .features(x); the classifier backbone needs one")
        self.model = model
        self.key = key or getattr(model, "cache_key", None) or "uncached"
        self.name = f"eval-classifier:{self.key}"
        self.batch_size = batch_size

    def extract(self, images: Tensor) -> Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.features(images.float().to(_device_of(self.model))).flatten(1)
        finally:
            self.model.train(was_training)


def to_uint8_rgb(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 [0, 255] (rounded, as a saved PNG); 1 channel -> 3 by repetition."""
    x = to_uint8(images)
    if x.size(1) == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.size(1) != 3:
        raise ValueError(f"Inception features need 1- or 3-channel images, got {x.size(1)} channels")
    return x.contiguous()


def _missing(what: str, cause: BaseException | None = None) -> BackboneUnavailableError:
    msg = (
        f"Inception FID/KID (metrics fid, kid, intra_fid) is unavailable: {what}. "
        "Install the optional extra with `pip install gan_lab[inception]` (torch-fidelity; it needs a "
        "torchvision that matches your torch), and give the FID InceptionV3 weights as a local file with "
        f"eval.inception_weights=PATH (torch-fidelity's {INCEPTION_WEIGHTS_FILE}) or let torchmetrics "
        "download them on a connected machine. Or use the offline metrics fid_clf, kid_clf, intra_fid_clf."
    )
    if cause is not None:
        msg += f" (cause: {type(cause).__name__}: {cause})"
    return BackboneUnavailableError(msg)


def _inception_class():
    """torchmetrics' NoTrainInceptionV3, checked to really be torch-fidelity's network."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        from torchmetrics.image.fid import NoTrainInceptionV3
    except Exception as e:  # ImportError, or torch-fidelity failing to import torchvision
        raise _missing("torch-fidelity cannot be imported", e) from e
    if not issubclass(NoTrainInceptionV3, FeatureExtractorInceptionV3):
        raise _missing("torchmetrics was imported before torch-fidelity was installed; restart the process")
    return NoTrainInceptionV3


def _supports_antialias(cls) -> bool:
    """torchmetrics >= 1.8 has the ``antialias`` switch; older versions always resize the legacy way."""
    try:
        return "antialias" in inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False


def _check_resize(resize: str, cls=None) -> None:
    if resize not in INCEPTION_RESIZE:
        raise ConfigError(f"eval.inception_resize={resize!r} is invalid; allowed: {', '.join(INCEPTION_RESIZE)}")
    if cls is not None and resize == "antialias" and not _supports_antialias(cls):
        raise ConfigError("eval.inception_resize=antialias needs torchmetrics >= 1.8 (this one only has the legacy "
                          "resize); upgrade torchmetrics or use eval.inception_resize=legacy")


def check_inception(weights: str | os.PathLike | None = None, resize: str = "legacy") -> None:
    """Raise now (ConfigError / BackboneUnavailableError) if the Inception backbone cannot be built later.

    Cheap: checks the resize value, the import and the weights file without loading the network, so a
    run that asks for Inception FID fails before training, not at its first evaluation. With no weights
    file configured or cached, torchmetrics will try to download them when the backbone is built.
    """
    _check_resize(resize)
    path = _resolve_weights(weights)
    _check_resize(resize, _inception_class())
    if path is None and not download_reachable():
        cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
        raise _missing(f"eval.inception_weights is null, nothing is cached at {cached}, and the download host "
                       f"{WEIGHTS_HOST} cannot be reached from this machine (offline node?)")


WEIGHTS_HOST = "github.com"  # where torch-fidelity's Inception weights are downloaded from


def download_reachable(host: str = WEIGHTS_HOST, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to the weights' download host opens (checked once, before training)."""
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _resolve_weights(weights: str | os.PathLike | None) -> str | None:
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise _missing(f"eval.inception_weights={weights} is not a file")
        return str(path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    return str(cached) if cached.is_file() else None  # None: torchmetrics downloads


class InceptionFeatures(FeatureExtractor):
    """2048-d pool features of the FID InceptionV3 (torch-fidelity weights, uint8 input as in the standard protocol)."""

    def __init__(self, weights: str | os.PathLike | None = None, resize: str = "legacy", batch_size: int = 64,
                 device: str | torch.device | None = None):
        _check_resize(resize)
        path = _resolve_weights(weights)
        cls = _inception_class()
        _check_resize(resize, cls)
        kwargs = {"antialias": resize == "antialias"} if _supports_antialias(cls) else {}  # old: always legacy
        try:
            net = cls(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=path,
                      **kwargs)
        except Exception as e:
            where = f"loading {path}" if path else "downloading the weights"
            raise _missing(f"{where} failed", e) from e
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = net.to(self.device).eval()
        self.resize = resize
        self.weights = path or "torchmetrics-download"
        self.batch_size = batch_size
        self.name = f"inception-v3-fid(torch-fidelity,resize={resize})"

    def extract(self, images: Tensor) -> Tensor:
        return self.net(to_uint8_rgb(images).to(self.device))

    def info(self) -> dict:
        return {"inception_resize": self.resize, "inception_weights": Path(self.weights).name}


@BACKBONES.register("classifier")
def classifier_backbone(model: nn.Module, key: str | None = None, batch_size: int = 256) -> FeatureExtractor:
    return ClassifierFeatures(model, key=key, batch_size=batch_size)


@BACKBONES.register("inception")
def inception_backbone(weights: str | None = None, resize: str = "legacy", batch_size: int = 64,
                       device: str | None = None) -> FeatureExtractor:
    return InceptionFeatures(weights=weights, resize=resize, batch_size=batch_size, device=device)


def create_backbone(name: str, **options) -> FeatureExtractor:
    """Build a registered backbone; unknown names raise ConfigError listing the allowed ones."""
    return BACKBONES.get(name)(**options)
