"""Classifier-based measures of conditional generation (Shmelkov, Schmid, Alahari, "How good is my GAN?", 2018).

* GAN-test: accuracy of a classifier trained on REAL data, applied to generated images, w.r.t. the
  labels they were generated for (precision-like: are the images recognisably of their class?).
* GAN-train: a fresh classifier of the same architecture and schedule trained ONLY on generated
  images (labelled with their targets), scored on the REAL test split (recall/diversity-like).
* Scores: the average confidence score (mean soft-max probability of the target class on generated
  images) and the accuracy per target class. (The accuracy over all of them *is* GAN-test: it is recorded
  once, as ``gan_test``.)
* Augmentation gain: real-test accuracy of a classifier trained on real + generated data minus the
  real-only one, and the same classifier's average confidence in the true class of the real test images
  (costly; on request only). The label-geometry paper ties its "prediction accuracy score" and "average
  confidence score" to this use, data augmentation (docs/evaluation.md).
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import Tensor, nn
from torch.utils.data import ConcatDataset, Dataset, TensorDataset

from gan_lab.metrics.classifier import accuracy, fetch, predict

TrainFn = Callable[..., nn.Module]


def gan_test(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Accuracy of the real-trained classifier on generated images w.r.t. their target labels."""
    return accuracy(model, images, labels)


def classification_scores(model: nn.Module, images: Tensor, labels: Tensor, num_classes: int) -> dict:
    """confidence_score (mean target-class probability) and per_class_accuracy.

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
        "confidence_score": float(probs.gather(1, labels[:, None]).double().mean()),
        "per_class_accuracy": per_class,
    }


def accuracy_and_confidence(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> tuple[float, float]:
    """(top-1 accuracy, mean soft-max probability of the true class) on a dataset of (image, label) items."""
    correct, confidence = 0.0, 0.0
    for start in range(0, len(dataset), batch_size):
        x, y = fetch(dataset, range(start, min(start + batch_size, len(dataset))))
        pred, probs = predict(model, x, batch_size)
        correct += float((pred == y).double().sum())
        confidence += float(probs.gather(1, y[:, None]).double().sum())
    return correct / len(dataset), confidence / len(dataset)


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
                      real_only: nn.Module, progress: bool = True) -> dict:
    """Real-test accuracy and true-class confidence of a classifier trained on real + generated data, and the
    accuracy gain over ``real_only``.

    ``real_only`` must be the same architecture, schedule and seed trained on ``real_train`` alone (the
    reference classifier is exactly that). Same number of steps: adding data changes the mix of a batch, not
    the training budget.
    """
    model = _call_train(train_fn, ConcatDataset([real_train, labelled(images, labels)]), progress)
    acc, conf = accuracy_and_confidence(model, real_test)
    base_acc, base_conf = accuracy_and_confidence(real_only, real_test)
    return {"aug_gain": acc - base_acc, "aug_accuracy": acc, "aug_confidence": conf,
            "aug_real_only_accuracy": base_acc, "aug_real_only_confidence": base_conf}


__all__ = ["gan_test", "gan_train", "classification_scores", "accuracy_and_confidence", "augmentation_gain", "labelled"]
