"""The training data order: a pure function of (seed, epoch, rank), so a run resumed mid-epoch sees
exactly the batches the uninterrupted run would have seen.

``EpochSampler`` shuffles with a generator seeded by ``(seed, epoch)`` (not torch's global RNG, which
training draws from), deals the permutation to the ranks (rank r takes every world-th item: each rank sees
different data, and the union is the epoch), and can skip the items a resumed run already consumed in the
current epoch (:meth:`resume`). With ``flip=True`` it also draws, from the same generator, a left-right flip
bit per item and yields ``index + n·flip`` for :class:`FlipByIndex` to decode: the augmentation is part of
the order, so it resumes exactly too.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Dataset, Sampler


class EpochSampler(Sampler[int]):
    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1, flip: bool = False):
        self.n, self.seed, self.rank, self.world = int(n), int(seed), int(rank), max(1, int(world_size))
        self.flip = bool(flip)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (batches done, batch size) of a resumed run

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = int(epoch)

    def resume(self, batches_done: int, batch_size: int) -> None:
        """A run resumed after ``batches_done`` training batches: the next iteration starts where the
        uninterrupted run would be in whichever epoch Lightning resumes (mid-epoch, or the next one when
        the checkpoint was taken on an epoch's last batch). Also sets the epoch those batches imply."""
        self._resume = (int(batches_done), int(batch_size))
        self.epoch = int(batches_done) // max(1, self.batches_per_epoch(int(batch_size)))

    def batches_per_epoch(self, batch_size: int) -> int:
        return len(self) // batch_size

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's items of ``epoch``, flips encoded (``index + n`` when flipped)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g)
        if self.flip:
            perm = perm + self.n * torch.randint(0, 2, (self.n,), generator=g)
        return perm[self.rank : len(perm) - len(perm) % self.world : self.world]

    def __iter__(self) -> Iterator[int]:
        skip = 0
        if self._resume is not None:
            done, bs = self._resume
            skip = max(0, done - self.epoch * self.batches_per_epoch(bs)) * bs
            self._resume = None
        return iter(self.order(self.epoch)[skip:].tolist())

    def __len__(self) -> int:
        return self.n // self.world


class FlipByIndex(Dataset):
    """Item ``i < n`` as it is, item ``i + n`` flipped left-right (the sampler's encoding).

    Items are ``(image, label)`` pairs or dicts (paired data): in a dict every image-shaped tensor
    (3 or more dims: photo, target, mask) is flipped together; vectors and scalars stay."""

    def __init__(self, base: Dataset):
        self.base = base
        self.n = len(base)

    def __len__(self) -> int:
        return 2 * self.n

    def __getitem__(self, i: int):
        item = self.base[i % self.n]
        if i < self.n:
            return item
        if isinstance(item, dict):
            return {k: v.flip(-1) if torch.is_tensor(v) and v.dim() >= 3 else v for k, v in item.items()}
        image, label = item
        return image.flip(-1), label
