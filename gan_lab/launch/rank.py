"""One answer to "is this process rank 0?" before the Trainer exists (after it: ``trainer.is_global_zero``).

The launchers set different variables: torchrun and Lightning's DDP set ``RANK`` (and ``LOCAL_RANK``,
``NODE_RANK``); ``srun`` sets ``SLURM_PROCID`` only. A process is rank 0 when every one of them that is
set says 0 — the same variables Lightning reads, so gan_lab and Lightning never disagree.
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")


def is_rank_zero() -> bool:
    return all(os.environ.get(k, "0") == "0" for k in RANK_VARIABLES)
