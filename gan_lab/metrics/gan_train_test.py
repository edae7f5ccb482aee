"""Classifier-based measures of conditional generation (Shmelkov, Schmid, Alahari, "How good is my GAN?", 2018).

* GAN-test: accuracy of a classifier trained on REAL data, applied to generated images, w.r.t. the
  labels they were generated for (precision-like: are the images recognisably of their class?).
* GAN-train: a fresh classifier of the same architecture and schedule trained ONLY on generated
  images (labelled with their targets), scored on the REAL test split (recall/diversity-like).
* Scores: the prediction accuracy score (= GAN-test, reported under both names as the label-geometry
  paper does), the average confidence score (mean soft-max probability of the target class) and
  per-class accuracy.
* Augmentation gain: real-test accuracy of a classifier trained on real + generated data minus the
  real-only one (costly; on request only).
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import Tensor, nn
from torch.utils.data import ConcatDataset, Dataset, TensorDataset

from gan_lab.metrics.classifier import accuracy, predict

TrainFn = Callable[..., nn.Module]


def gan_test(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Accuracy of the real-trained classifier on generated images w.r.t. their target labels."""
    return accuracy(model, images, labels)


def classification_scores(model: nn.Module, images: Tensor, labels: Tensor, num_classes: int) -> dict:
    """accuracy_score, confidence_score (mean target-class probability) and per_class_accuracy.

    A class with no generated image gets NaN in ``per_class_accuracy``.
    """
    labels = labels.long().cpu()
    pred, probs = predict(model, images)
    correct = (pred == labels).double()
    per_class = []
    for c in range(num_classes):
        mask = labels == c
        per_class.append(float(correct[mask].mean()) if mask.any() else float("nan"))
    return {
        "accuracy_score": float(correct.mean()),
        "confidence_score": float(probs.gather(1, labels[:, None]).double().mean()),
        "per_class_accuracy": per_class,
    }


def _call_train(train_fn: TrainFn, dataset: Dataset, progress: bool) -> nn.Module:
    try:
        accepts = "progress" in inspect.signature(train_fn).parameters
    except (TypeError, ValueError):
        accepts = False
    return train_fn(dataset, progress=progress) if accepts else train_fn(dataset)


def labelled(images: Tensor, labels: Tensor) -> TensorDataset:
    return TensorDataset(images.detach().float().cpu(), labels.detach().long().cpu())


def gan_train(train_fn: TrainFn, images: Tensor, labels: Tensor, real_test: Dataset, progress: bool = True) -> float:
    """Real-test accuracy of a classifier trained only on generated images labelled with their targets."""
    model = _call_train(train_fn, labelled(images, labels), progress)
    return accuracy(model, real_test)


def augmentation_gain(train_fn: TrainFn, real_train: Dataset, images: Tensor, labels: Tensor, real_test: Dataset,
                      real_only_accuracy: float, progress: bool = True) -> dict:
    """Real-test accuracy of a classifier trained on real + generated data, and its gain over real only.

    ``real_only_accuracy`` must come from the same architecture, schedule and seed on ``real_train``
    alone (the reference classifier is exactly that). Same number of steps: adding data changes the
    mix of a batch, not the training budget.
    """
    model = _call_train(train_fn, ConcatDataset([real_train, labelled(images, labels)]), progress)
    acc = accuracy(model, real_test)
    return {"aug_gain": acc - float(real_only_accuracy), "aug_accuracy": acc,
            "aug_real_only_accuracy": float(real_only_accuracy)}


__all__ = ["gan_test", "gan_train", "classification_scores", "augmentation_gain", "labelled"]
