"""Evaluation-judge schedules on a data set: real test and val accuracy, and training seconds, per schedule.

    python benchmarks/judge_schedule.py dataset=fashion_mnist 16:200 16:1000 16:2000 24:2000 24:4000 32:3000

Each ``WIDTH:STEPS`` trains the evaluation classifier (gan_lab.metrics.classifier.train_classifier: the judge
every run trains and caches) on the whole training split at 32 px, seed 0, batch 64, lr 2e-3, one thread.
The results table for Fashion-MNIST is in docs/evaluation.md.
"""

from __future__ import annotations

import sys
import time

import torch

from gan_lab.data import build_datamodule
from gan_lab.metrics.classifier import accuracy, train_classifier


def main(argv: list[str]) -> None:
    dataset = {"name": "fashion_mnist", "image_size": 32}
    schedules = []
    for arg in argv:
        if arg.startswith("dataset="):
            dataset["name"] = arg.split("=", 1)[1]
        elif arg.startswith("root="):
            dataset["root"] = arg.split("=", 1)[1]
        else:
            width, steps = (int(v) for v in arg.split(":"))
            schedules.append((width, steps))
    torch.set_num_threads(1)
    dm = build_datamodule(dataset)
    dm.setup()
    for width, steps in schedules or [(16, 200)]:
        t0 = time.time()
        model = train_classifier(dm.reference_train(), dm.num_classes, dm.channels, dm.image_size, steps,
                                 batch_size=64, lr=2e-3, seed=0, width=width, feature_dim=128, progress=False)
        seconds = time.time() - t0
        print(f"width {width} steps {steps}: test {accuracy(model, dm.dataset('test')):.4f} "
              f"val {accuracy(model, dm.dataset('val')):.4f} train_s {seconds:.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
