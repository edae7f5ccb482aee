"""Faults lose nothing and say what happened: atomic checkpoint writes, a failed write (disk full), corrupt
or truncated checkpoints handed to training, ``gan-lab eval`` and ``translate``, and checks before step 0."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest
import torch

from conftest import TINY, compose


def _train(overrides, run, cache):
    from gan_lab.train import train

    return train(compose(overrides, run, cache))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    run = base / "run"
    _train([*TINY, "logger=none"], run, base / "cache")
    return run, base / "cache"


def _truncated_copy(src, dst, keep: float = 0.5):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])


def _bit_flipped_copy(src, dst):
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a tensor's data: the zip CRC catches it
    dst.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncated_copy, _bit_flipped_copy])
def test_damaged_checkpoint_is_named_with_the_intact_one_beside_it(damage, finished_run, tmp_path):
    from gan_lab.checkpoints import CorruptCheckpointError, check_readable

    run, _ = finished_run
    good = run / "checkpoints" / "last.ckpt"
    d = tmp_path / "checkpoints"
    d.mkdir()
    (d / "best-000003.ckpt").write_bytes(good.read_bytes())
    damage(good, d / "last.ckpt")
    with pytest.raises(CorruptCheckpointError) as e:
        check_readable(d / "last.ckpt")
    msg = str(e.value)
    assert str(d / "last.ckpt") in msg and str(d / "best-000003.ckpt") in msg and "\n" not in msg
    check_readable(d / "best-000003.ckpt")  # the intact one passes


@pytest.mark.parametrize("command", ["train", "eval", "translate"])
def test_commands_refuse_a_truncated_checkpoint_in_one_line(command, finished_run, tmp_path):
    run, cache = finished_run
    bad = tmp_path / "run" / "checkpoints" / "last.ckpt"
    bad.parent.mkdir(parents=True)
    _truncated_copy(run / "checkpoints" / "last.ckpt", bad)
    if command == "train":
        args = ["train", *TINY, "logger=none", f"hydra.run.dir={tmp_path / 'run'}", "ckpt_path=last",
                f"paths.cache_dir={cache}"]
    elif command == "eval":
        args = ["eval", f"ckpt_path={bad}"]
    else:
        args = ["translate", f"ckpt_path={bad}", f"input={tmp_path}", "target=1", f"output={tmp_path / 'out'}"]
    p = subprocess.run([sys.executable, "-m", "gan_lab.cli", *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in p.stderr


# What a full disk raises: the file's OSError, or (what torch.save really raises when its zip writer hits it,
# seen on a 256 KiB tmpfs) a RuntimeError from inline_container.cc.
FULL_DISK = {"oserror": (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
             "torch": (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"),
                       "is the disk full?")}


@pytest.mark.parametrize("kind", sorted(FULL_DISK))
def test_a_failed_checkpoint_write_keeps_the_previous_file_and_stops_clearly(kind, tmp_path, monkeypatch, cache_dir):
    from gan_lab.checkpoints import CheckpointWriteError

    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    real_save, calls = torch.save, []
    error, said = FULL_DISK[kind]

    def disk_full_on_second_save(obj, f, *a, **k):
        if str(getattr(f, "name", "")).endswith("last.ckpt.tmp"):
            calls.append(1)
        if len(calls) == 2 and str(getattr(f, "name", "")).endswith("last.ckpt.tmp"):
            f.write(b"partial")
            raise error
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", disk_full_on_second_save)
    with pytest.raises(CheckpointWriteError) as e:
        _train([*TINY, "logger=none", "checkpoint.monitor=null"], run, cache_dir)
    assert said in str(e.value) and "previous last.ckpt is intact" in str(e.value)
    monkeypatch.setattr(torch, "save", real_save)
    ckpt = torch.load(last, map_location="cpu", weights_only=False)  # the first checkpoint, whole
    assert ckpt["global_step"] == 3 and not (run / "checkpoints" / "last.ckpt.tmp").exists()


@pytest.mark.parametrize("key", ["hydra.run.dir", "paths.cache_dir"])
def test_an_unwritable_directory_fails_before_step_0(key, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    where = {"hydra.run.dir": tmp_path / "run", "paths.cache_dir": tmp_path / "cache"}
    where[key] = blocker / "sub"
    p = subprocess.run([sys.executable, "-m", "gan_lab.cli", "train", *TINY, "logger=none",
                        f"hydra.run.dir={where['hydra.run.dir']}", f"paths.cache_dir={where['paths.cache_dir']}"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    (line,) = [s for s in p.stderr.splitlines() if "error:" in s]
    assert f"{key}={blocker / 'sub'} is not a writable directory" in line


def test_wandb_dying_mid_run_leaves_training_and_records_going(tmp_path, cache_dir, monkeypatch, caplog):
    import logging

    from wandb.sdk.wandb_run import Run

    real_log, calls = Run.log, []

    def dies_after_two_logs(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise BrokenPipeError("the W&B service process is gone")
        return real_log(self, *args, **kwargs)

    monkeypatch.setattr(Run, "log", dies_after_two_logs)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="gan_lab"):
        metrics, objs = _train([*TINY, "logger=wandb"], run, cache_dir)
    assert objs["trainer"].global_step == 6 and "gan_test" in metrics
    kinds = [line.split('"kind": "')[1].split('"')[0] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert kinds == ["periodic", "final_val", "final", "sanity", "sanity"]
    assert (run / "checkpoints" / "last.ckpt").is_file()
    warnings = [r.getMessage() for r in caplog.records if "W&B failed" in r.getMessage()]
    assert len(warnings) == 1 and "BrokenPipeError" in warnings[0]


def test_fp16_with_a_gradient_penalty_is_refused_and_gpu_defaults_to_bf16(tmp_path):
    from gan_lab.config import validate_config
    from gan_lab.registry import ConfigError

    with pytest.raises(ConfigError, match="trainer.precision=16-mixed with adversarial.lambda_gp=10.0 is refused"):
        validate_config(compose(["trainer.precision=16-mixed"], tmp_path, tmp_path))
    validate_config(compose(["trainer.precision=16-mixed", "adversarial.lambda_gp=0"], tmp_path, tmp_path))
    assert compose(["trainer=gpu"], tmp_path, tmp_path).trainer.precision == "bf16-mixed"


def test_a_full_disk_for_records_and_images_stops_in_one_line(tmp_path, monkeypatch):
    """A record line or a PNG that cannot be written (ENOSPC) is one RunOutputError naming the file; no temporary
    file is left and a PNG is never half written."""
    from gan_lab.errors import RunOutputError
    from gan_lab.imaging import save_image
    from gan_lab.records import append_jsonl

    png = tmp_path / "samples" / "step_000003.png"
    real_save = __import__("PIL.Image", fromlist=["Image"]).Image.save

    def full(self, fp, *a, **k):
        open(fp, "wb").write(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("PIL.Image.Image.save", full)
    with pytest.raises(RunOutputError, match=r"could not write .*step_000003.png \(No space left on device\)"):
        save_image(torch.zeros(1, 4, 4), png)
    assert not png.exists() and list(png.parent.iterdir()) == []
    monkeypatch.setattr("PIL.Image.Image.save", real_save)

    import builtins

    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, mode="r", *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")) if str(f).endswith("metrics.jsonl") else real_open(f, mode, *a, **k))
    with pytest.raises(RunOutputError, match="metrics.jsonl"):
        append_jsonl(tmp_path / "metrics.jsonl", {"step": 1})


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB tmpfs (root with CAP_SYS_ADMIN only; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.decode().strip() or made.returncode})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_real_full_disk_stops_the_run_in_one_line_and_keeps_what_was_written(small_disk, finished_run, cache_dir):
    """A run directory on a disk that fills up mid-run: exit 2, one line naming the file, no *.tmp left behind,
    and every checkpoint still on the disk loads."""
    ckpt_size = (finished_run[0] / "checkpoints" / "last.ckpt").stat().st_size
    filler = small_disk / "filler"  # leave room for about one and a half checkpoints
    free = 3 * 2**20 - int(1.5 * ckpt_size) - 200_000
    if free > 0:
        filler.write_bytes(b"\0" * free)
    run = small_disk / "run"
    env = {**__import__("os").environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run([sys.executable, "-m", "gan_lab.cli", "train", *TINY, "logger=none", "trainer.max_steps=12",
                           f"hydra.run.dir={run}", f"paths.cache_dir={cache_dir}"],
                          capture_output=True, text=True, env=env, timeout=600)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert err[-1].startswith("gan-lab train: error: could not write") and "Traceback" not in proc.stderr
    assert not list(run.rglob("*.tmp"))
    for ckpt in run.rglob("*.ckpt"):
        assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] > 0


@pytest.mark.parametrize("bad", [["logger.project=a/b"], ["logger.entity=nobody-here"]])
def test_wandb_failing_to_start_warns_once_and_the_run_goes_on(bad, tmp_path, cache_dir, monkeypatch, caplog):
    """A W&B run that cannot start (an invalid project, or online mode without a key) is one warning; training,
    checkpoints and metrics.jsonl go on (it used to end with `TypeError: data must be str, not _Dead`)."""
    import logging

    import wandb

    def refuse(*args, **kwargs):  # what wandb.init raises offline for a bad project, online without a key
        raise wandb.errors.UsageError("invalid project name a/b" if "a/b" in str(kwargs) else "api_key not configured")

    monkeypatch.setattr(wandb, "init", refuse)
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="gan_lab"):
        metrics, objs = _train([*TINY, "logger=wandb", *bad], run, cache_dir)
    assert objs["trainer"].global_step == 6 and "gan_test" in metrics
    assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "wandb_id.txt").exists()
    warned = [r.getMessage() for r in caplog.records if "W&B failed" in r.getMessage()]
    assert len(warned) == 1 and "UsageError" in warned[0]


def test_default_logging_makes_no_network_attempt(tmp_path, cache_dir):
    """`gan-lab train` with WANDB_MODE unset (W&B offline from the config) opens no network connection:
    strace -f -e trace=connect sees only local sockets (skipped where strace is missing)."""
    import os
    import shutil

    if shutil.which("strace") is None:
        pytest.skip("strace not installed")
    trace = tmp_path / "connect.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    proc = subprocess.run(["strace", "-f", "-e", "trace=connect", "-o", str(trace), sys.executable, "-m", "gan_lab.cli",
                           "train", *TINY, "trainer.max_steps=2", "eval.every_n_steps=0", "eval.final_metrics=[gan_test]",
                           f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={cache_dir}"],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0 and "ptrace" in (proc.stderr or "").lower():
        pytest.skip("ptrace not permitted here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))  # W&B did run, offline
    network = [line for line in trace.read_text().splitlines()
               if "connect(" in line and ("AF_INET" in line or "AF_INET6" in line)]
    assert network == [], network[:3]


def test_a_second_run_in_a_busy_run_directory_stops_in_one_line(tmp_path, cache_dir):
    """While one process holds a run directory, a second `gan-lab train` there stops before writing anything,
    naming the holder; once the holder ends (killed, here), the directory is free again."""
    import os
    import time

    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from gan_lab.launch.run_lock import lock_run_dir; "
                               f"lock_run_dir({str(run)!r}); print('locked', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        env = {**os.environ, "WANDB_MODE": "offline"}
        second = subprocess.run([sys.executable, "-m", "gan_lab.cli", "train", *TINY, "logger=none", f"hydra.run.dir={run}",
                                 f"paths.cache_dir={cache_dir}"], capture_output=True, text=True, env=env, timeout=300)
        err = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(err) == 1, second.stderr[-2000:]
        assert err[0].startswith(f"gan-lab train: error: hydra.run.dir={run} is in use by gan-lab pid {holder.pid}")
        assert not (run / ".hydra").exists()  # refused before Hydra wrote its config
    finally:
        holder.kill()
        holder.wait()
    from gan_lab.launch.run_lock import lock_run_dir, release_all

    time.sleep(0.1)
    lock_run_dir(run)  # a killed holder leaves no stale lock
    release_all()
