"""What the evaluation classifier costs and how accurate it gets, by input size and training steps.

    python benchmarks/eval_classifier_cost.py --size 128 --steps 50,100,200 --max-input 0,64,32

Trains the evaluation classifier (``gan_lab.metrics.classifier.train_classifier``, the settings of
``eval.classifier`` in conf/train.yaml: width 16, batch 64, lr 2e-3) on the digits training split resized to
``--size`` pixels, once per (``max_input``, steps), and prints the real test accuracy and the CPU seconds of
training (process CPU time: steadier than wall time on a shared machine; one thread). ``max_input`` 0 is the
network at full resolution; 64 average-pools a 128 px image by 2 before the first stage (``eval.classifier.max_input``).
Digits at 128 px are upsampled 8x8 images: a proxy for cost at 128 px, not for the difficulty of faces.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_lab.data import build_datamodule
from gan_lab.metrics.classifier import accuracy, train_classifier


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", default="50,100,200")
    p.add_argument("--max-input", default="0,64,32")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dm = build_datamodule({"name": "digits", "image_size": args.size})
    dm.setup()
    train, test = dm.dataset("train"), dm.dataset("test")
    print(f"digits at {args.size} px: {len(train)} train, {len(test)} test images; {torch.get_num_threads()} thread(s)")
    print("| max_input | steps | test accuracy | CPU s (training) | CPU ms per step |")
    print("|---:|---:|---:|---:|---:|")
    for max_input in (int(v) for v in args.max_input.split(",")):
        for steps in (int(v) for v in args.steps.split(",")):
            t0 = time.process_time()
            model = train_classifier(train, dm.num_classes, dm.channels, args.size, steps, batch_size=64, lr=2e-3,
                                     width=16, seed=0, progress=False, max_input=max_input)
            cpu = time.process_time() - t0
            acc = accuracy(model, test)
            print(f"| {max_input or 'off'} | {steps} | {acc:.3f} | {cpu:.1f} | {1e3 * cpu / steps:.0f} |", flush=True)


if __name__ == "__main__":
    main()
