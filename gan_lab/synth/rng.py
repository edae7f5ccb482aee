"""Per-sample random streams: sample ``index`` of a render with ``seed`` depends only on (seed, index).

Each part of a sample (label artwork, geometry, lights, camera, sensor noise, ...) draws from its own
stream, derived by hashing (seed, index, part). So changing the lighting config leaves the geometry and
the label of every sample unchanged (the albedo-independence test relies on it), and a data set can be
split across workers by index with no coordination.
"""

from __future__ import annotations

import hashlib
import math
import random

import torch


def stream_seed(seed: int, index: int, part: str) -> int:
    """A 63-bit integer from (seed, index, part): stable across runs, platforms and Python versions."""
    digest = hashlib.blake2b(f"{int(seed)}/{int(index)}/{part}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class Stream(random.Random):
    """``random.Random`` with the few draws the renderer needs (ranges, weighted choice, unit vectors)."""

    def __init__(self, seed: int, index: int, part: str):
        super().__init__(stream_seed(seed, index, part))
        self.torch_seed = stream_seed(seed, index, part + "/torch")

    def between(self, lo_hi) -> float:
        lo, hi = lo_hi
        return lo if lo == hi else self.uniform(lo, hi)

    def int_between(self, lo_hi) -> int:
        lo, hi = lo_hi
        return self.randint(int(lo), int(hi))

    def weighted(self, weights: dict[str, float]) -> str:
        names = sorted(k for k, w in weights.items() if w > 0)
        return self.choices(names, weights=[weights[k] for k in names])[0]

    def log_between(self, lo_hi) -> float:
        lo, hi = lo_hi
        return math.exp(self.between((math.log(lo), math.log(hi))))

    def torch_generator(self) -> torch.Generator:
        """A CPU torch generator for the tensor-valued draws of this stream (noise fields)."""
        return torch.Generator().manual_seed(self.torch_seed)
