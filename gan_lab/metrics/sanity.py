"""Sanity rows: the evaluation's metrics computed on stand-ins for the generator whose ranking is known.

A protocol mistake (a reference set that holds the inputs, a GAN-train set that holds the test images)
shows up as a stand-in that knows nothing beating real images. Each row is built from the data and the
model's own evaluation plan (which inputs were translated to which targets), so it is scored on exactly the
same targets as the model:

* ``identity`` (translation): every input returned unchanged, labelled with its target. Must lose to
  ``real`` on every metric.
* ``real``: real images of the target class, as if a perfect generator had made them. For the metrics
  judged on the evaluated split (GAN-test, the headline FID/KID against the training split) they are
  images of the evaluated split, each used once (at most as many per class as the plan asks for); for
  GAN-train they are training-split images of the target class (GAN-train is scored on the test split,
  so its training data must not be test images). Metrics whose reference *is* the evaluated split
  (intra-class and task FID) are not defined for it and are skipped.
* ``template`` (generation): the class-mean training image, repeated. Must lose to ``real`` on the FIDs and
  GAN-train; GAN-test alone cannot tell a template from real data (a class mean is easy to classify),
  which is why it never stands alone in a table.

Rows are registered by decorator (``SANITY_ROWS``); a module declares which rows apply to it
(``GANModule.sanity_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from gan_lab.registry import Registry


@dataclass
class SanityData:
    """What a stand-in may use: the real splits and the model's plans (the dicts ``make_eval_set`` and
    ``make_gan_train_set`` returned: ``fake_labels``, ``fake_sources``, translation's ``input_index``)."""

    split_images: Tensor  # the evaluated split (translation inputs)
    split_labels: Tensor
    train_images: Tensor  # the GAN's training split (translation: GAN-train inputs)
    train_labels: Tensor
    eval_plan: dict
    train_plan: dict | None  # None when no metric trains on generated data
    num_classes: int
    seed: int


@dataclass
class StandIn:
    """A sanity row's 'generated' sets: the evaluation set and, when needed, the GAN-train set."""

    images: Tensor
    labels: Tensor
    sources: Tensor | None = None
    gan_train: tuple[Tensor, Tensor] | None = None
    skip: frozenset = field(default_factory=frozenset)  # metric references not defined for this row (suite.METRIC_REFERENCES)
    source: str = ""  # what GAN-train learned from, for the records


@dataclass(frozen=True)
class SanityRow:
    build: Callable[[SanityData], StandIn]
    description: str


SANITY_ROWS: Registry[SanityRow] = Registry("sanity row", "sanity_rows")


def register_sanity_row(name: str, description: str):
    def deco(fn: Callable[[SanityData], StandIn]):
        SANITY_ROWS.register(name)(SanityRow(fn, description))
        return fn

    return deco


def real_of_classes(images: Tensor, labels: Tensor, wanted: Tensor, num_classes: int, seed: int) -> tuple[Tensor, Tensor]:
    """For each class c: up to (number of ``wanted`` == c) distinct images of class c, in a seeded order."""
    gen = torch.Generator().manual_seed(seed)
    wanted, labels = wanted.long().cpu(), labels.long().cpu()
    idx = []
    for c in range(num_classes):
        pool = torch.nonzero(labels == c).flatten()
        pool = pool[torch.randperm(len(pool), generator=gen)]
        idx.append(pool[: int((wanted == c).sum())])
    idx = torch.cat(idx)
    return images[idx], labels[idx]


def class_means(images: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(num_classes, C, H, W): the mean image of each class (zeros for a class with no image)."""
    out = torch.zeros(num_classes, *images.shape[1:], dtype=images.dtype)
    for c in range(num_classes):
        mask = labels.long() == c
        if mask.any():
            out[c] = images[mask].mean(0)
    return out


@register_sanity_row("identity", "the input returned unchanged (a translator that does nothing)")
def identity_row(d: SanityData) -> StandIn:
    plan = d.eval_plan
    gan_train = None
    if d.train_plan is not None:
        gan_train = (d.train_images[d.train_plan["input_index"]], d.train_plan["fake_labels"])
    return StandIn(d.split_images[plan["input_index"]], plan["fake_labels"], plan.get("fake_sources"), gan_train,
                   source="training-split images, unchanged, labelled with their targets")


@register_sanity_row("real", "real images of the target class (a perfect generator)")
def real_row(d: SanityData) -> StandIn:
    images, labels = real_of_classes(d.split_images, d.split_labels, d.eval_plan["fake_labels"], d.num_classes, d.seed)
    gan_train = None
    if d.train_plan is not None:
        gan_train = real_of_classes(d.train_images, d.train_labels, d.train_plan["fake_labels"], d.num_classes,
                                    d.seed + 1)
    return StandIn(images, labels, None, gan_train, skip=frozenset({"split"}),
                   source="real training-split images of the target class")


@register_sanity_row("template", "the class-mean training image, repeated (a generator of templates)")
def template_row(d: SanityData) -> StandIn:
    means = class_means(d.train_images, d.train_labels, d.num_classes)
    labels = d.eval_plan["fake_labels"].long().cpu()
    gan_train = None
    if d.train_plan is not None:
        train_labels = d.train_plan["fake_labels"].long().cpu()
        gan_train = (means[train_labels], train_labels)
    return StandIn(means[labels], labels, None, gan_train, source="class-mean training images")
