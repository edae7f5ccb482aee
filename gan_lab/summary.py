"""The short report printed at the end of ``gan-lab train``: where outputs are and the key numbers."""

from __future__ import annotations

from pathlib import Path

# (key, label) in display order; only keys present are shown.
SUMMARY_KEYS = [
    ("fid_clf", "FID (eval-classifier features; not Inception FID)"),
    ("kid_clf", "KID (eval-classifier features)"),
    ("fid", "FID (Inception)"),
    ("gan_test", "GAN-test accuracy"),
    ("gan_train", "GAN-train accuracy"),
    ("accuracy_score", "prediction accuracy score"),
    ("confidence_score", "average confidence score"),
    ("intra_fid_clf", "intra-class FID (eval-classifier features)"),
    ("classifier_test_accuracy", "eval classifier, real test accuracy"),
    # albedo extraction (inside the label mask; gan_lab.metrics.albedo)
    ("psnr", "albedo PSNR in the label mask (dB)"),
    ("ssim", "albedo SSIM in the label mask"),
    ("si_mse", "albedo scale-invariant MSE"),
    ("lmse", "albedo LMSE (Grosse et al.)"),
    ("delta_e2000", "albedo mean CIEDE2000 after the scale fit"),
]


def format_summary(run_dir: Path, metrics: dict, loggers=()) -> str:
    lines = ["", f"Run directory: {run_dir}"]
    for sub in ("checkpoints/last.ckpt", "samples", "metrics.jsonl"):
        lines.append(f"  {sub:24s} {run_dir / sub}")
    for logger in loggers:
        exp = getattr(logger, "experiment", None)
        d = getattr(exp, "dir", None)
        if d:
            lines.append(f"  W&B run                  {Path(d).parent}  (upload: wandb sync {Path(d).parent})")
    if metrics:
        lines.append(f"Final evaluation at step {metrics.get('step')} on {metrics.get('n_fake')} generated images:")
        for key, label in SUMMARY_KEYS:
            if isinstance(metrics.get(key), (int, float)):
                lines.append(f"  {label:52s} {metrics[key]:.4f}")
    return "\n".join(lines)
