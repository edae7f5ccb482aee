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


def _ddp_command(run: Path, cache_dir: Path) -> tuple[list[str], dict]:
    import socket

    with socket.socket() as sock:  # a free port for gloo's rendezvous, so parallel runs cannot collide
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "MASTER_PORT": str(port)}
    cmd = [sys.executable, "-m", "gan_lab.cli", "train", "trainer=ddp_cpu", *TINY, f"hydra.run.dir={run}",
           f"paths.cache_dir={cache_dir}", "eval.final_metrics=[fid_clf,gan_test,scores]"]
    return cmd, env


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """One uninterrupted 2-process run (6 steps, checkpoints at 3 and 6)."""
    base = tmp_path_factory.mktemp("ddp")
    run, cache = base / "run", tmp_path_factory.getbasetemp() / "eval_cache"
    cmd, env = _ddp_command(run, cache)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run, cache, proc


@pytest.mark.timeout(600)
def test_ddp_cpu_trains_writes_once_and_matches_single_process_eval(ddp_run, tmp_path):
    run, cache_dir, proc = ddp_run

    # Both ranks trained (two processes), but everything on disk was written once, by rank 0.
    assert "MEMBER: 2/2" in proc.stderr + proc.stdout or (run / "train_ddp_process_1.log").exists()
    records = _jsonl(run / "metrics.jsonl")
    assert [(r["step"], r["kind"], r.get("row")) for r in records] == [
        (3, "periodic", None), (6, "final_val", None), (6, "final", None), (6, "sanity", "identity"),
        (6, "sanity", "real")]  # rank 0 alone evaluated and wrote them: nothing twice
    assert len(list((run / "wandb").glob("offline-run-*"))) == 1
    assert not (Path.cwd() / '"').exists()  # rank 1's quoted hydra.run.dir="..." is a path, not a folder named '"'
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


@pytest.mark.timeout(900)
def test_ddp_killed_after_a_checkpoint_resumes_to_the_uninterrupted_state(ddp_run, tmp_path):
    """SIGKILL both ranks after the step-3 checkpoint, resume with ckpt_path=last: every tensor of the final
    checkpoint (weights, optimiser states, every rank's RNG stream) equals the uninterrupted run's. Rank 1 used
    to segfault restoring its RNG stream from a row view of the stacked states."""
    import signal
    import time

    import torch

    whole, cache, _ = ddp_run
    run = tmp_path / "run"
    cmd, env = _ddp_command(run, cache)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 600
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # both ranks (rank 1 is rank 0's child, same session)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    time.sleep(0.5)
    killed_at = torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
    assert 0 < killed_at < 6
    cmd, env = _ddp_command(run, cache)
    done = subprocess.run([*cmd, "ckpt_path=last"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    a = torch.load(whole / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    b = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert a["global_step"] == b["global_step"] == 6
    differ = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
    for oa, ob in zip(a["optimizer_states"], b["optimizer_states"]):
        for pa, pb in zip(oa["state"].values(), ob["state"].values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert torch.equal(a["rng_states"]["torch_per_rank"], b["rng_states"]["torch_per_rank"])
    assert torch.equal(a["ddp"]["param_digests"], b["ddp"]["param_digests"])


def test_ddp_timeout_reaches_the_process_group():
    """trainer.ddp_timeout_minutes becomes DDPStrategy's timeout (rank 0 evaluates alone while the others wait)."""
    from datetime import timedelta

    from gan_lab.config import group_option
    from gan_lab.launch.ddp_guard import trainer_kwargs
    from gan_lab.registry import ConfigError

    cfg = {"strategy": "ddp_find_unused_parameters_true", "devices": 2, "ddp_timeout_minutes": 240}
    kw = trainer_kwargs(cfg)
    assert "ddp_timeout_minutes" not in kw and kw["strategy"]._timeout == timedelta(minutes=240)
    assert kw["strategy"]._ddp_kwargs.get("find_unused_parameters") is True
    assert trainer_kwargs({"strategy": "auto", "ddp_timeout_minutes": 5})["strategy"] == "auto"
    with pytest.raises(ConfigError, match="ddp_timeout_minutes"):
        trainer_kwargs({**cfg, "ddp_timeout_minutes": "long"})
    assert group_option("trainer", "cpu").get("ddp_timeout_minutes") is None
