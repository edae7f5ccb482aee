"""Lightning DDP on two CPU processes (gloo): the distributed path without GPUs.

Runs the real CLI (Lightning's DDP launcher re-executes the command for rank 1), then checks the run
directory is written once and that evaluating the saved checkpoint in one process reproduces the
numbers the distributed run recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(600)
def test_ddp_cpu_trains_writes_once_and_matches_single_process_eval(tmp_path, cache_dir):
    run = tmp_path / "run"
    import socket

    with socket.socket() as sock:  # a free port for gloo's rendezvous, so parallel runs cannot collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "MASTER_PORT": str(port)}
    cmd = [sys.executable, "-m", "gan_lab.cli", "train", "trainer=ddp_cpu", *TINY, f"hydra.run.dir={run}",
           f"paths.cache_dir={cache_dir}", "eval.final_metrics=[fid_clf,gan_test,scores]"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # Both ranks trained (two processes), but everything on disk was written once, by rank 0.
    assert "MEMBER: 2/2" in proc.stderr + proc.stdout or (run / "train_ddp_process_1.log").exists()
    records = _jsonl(run / "metrics.jsonl")
    assert [(r["step"], r["kind"], r.get("row")) for r in records] == [
        (3, "periodic", None), (6, "final_val", None), (6, "final", None), (6, "sanity", "identity"),
        (6, "sanity", "real")]  # rank 0 alone evaluated and wrote them: nothing twice
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert len(list(run.glob(".hydra"))) == 1 and not list(run.glob("*/.hydra"))

    # DDP kept the ranks in sync: G, D, EMA and head parameters identical on both ranks (digests gathered
    # from every rank into the checkpoint), while each rank trained on different data (its own shard).
    import torch

    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    digests, seen = ckpt["ddp"]["param_digests"], ckpt["ddp"]["data_seen"]
    assert digests.shape[0] == 2 and torch.equal(digests[0], digests[1])
    assert digests.shape[1] == len(ckpt["state_dict"]) - sum(1 for k in ckpt["state_dict"] if "running" in k
                                                               or "num_batches" in k)
    assert seen.shape == (2,) and seen[0] != seen[1]
    rng = ckpt["rng_states"]["torch_per_rank"]
    assert rng.shape[0] == 2 and not torch.equal(rng[0], rng[1])  # each rank's own stream, saved for resume

    from gan_lab.commands.eval import compose_eval, run as run_eval

    final = records[2]
    cfg = compose_eval([f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "metrics=[fid_clf,gan_test,scores]",
                        f"n_samples={final['n_fake']}", "seed=0", "sanity=false", "bootstrap=0",
                        f"output={tmp_path / 'eval.json'}"])
    single = run_eval(cfg)
    assert single["checkpoint_step"] == 6
    for key in ("fid_clf", "gan_test", "confidence_score"):
        assert single[key] == pytest.approx(final[key], rel=1e-5, abs=1e-6), key
