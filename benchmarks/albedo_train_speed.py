"""Training images/s of the albedo translator's iteration, beside the renderer's renders/s.

Usage (repository root): ``OMP_NUM_THREADS=2 python benchmarks/albedo_train_speed.py``

Times, at 64 px and batch 16, one training iteration of ``AlbedoTranslator`` built as
``experiment=albedo_synth`` builds it (width-32 U-Net, input skip, gain + residual output, per-image colour
transform, L1 + si-MSE + gradient loss weighted to the label) through the module's own ``translate`` and
``generator_losses`` with Adam, without Lightning: with no discriminator (the default), with the PatchGAN
step (``model.objective.lambda_adv=1``), without the colour transform, with the plain ``gain`` output (an
earlier default), and at widths 16 and 64. Median of 10 iterations after 2 of
warm-up; prints seconds per iteration and training images/s.
"""

from __future__ import annotations

import time

import torch

from gan_lab.config import group_option
from gan_lab.modules.albedo import AlbedoTranslator


def build(width: int, lambda_adv: float, output: str = "gain_residual", global_colour: bool = True) -> AlbedoTranslator:
    model = group_option("model", "pix2pix", generator={"width": width, "depth": 6, "input_skip": True, "output": output,
                                                        "global_colour": global_colour},
                         discriminator={"width": 16, "n_layers": 3}, ema={"decay": 0.0},
                         objective={"lambda_adv": lambda_adv, "lambda_si_mse": 1000.0, "lambda_grad": 100.0,
                                    "l1_outside_mask": 0.1})
    return AlbedoTranslator(num_classes=0, channels=3, image_size=64, model=model, head={"name": "none"},
                            adversarial=group_option("adversarial", "vanilla"))


def time_iterations(m: AlbedoTranslator, n: int = 12, batch: int = 16) -> float:
    x, y = torch.rand(batch, 3, 64, 64) * 2 - 1, torch.rand(batch, 3, 64, 64) * 2 - 1
    mask = (torch.rand(batch, 1, 64, 64) > 0.5).float()
    opt_g = torch.optim.Adam(m.G.parameters(), 2e-4)
    opt_d = torch.optim.Adam(m.D.parameters(), 2e-4) if m.D is not None else None
    times = []
    for _ in range(n):
        t = time.perf_counter()
        if opt_d is not None:
            with torch.no_grad():
                fake = m.translate(m.G, x)
            d_loss = 0.5 * m.adv.d_loss(m.D(x, y), m.D(x, fake))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = m.generator_losses(x, y, mask, m.translate(m.G, x))["g_loss"]
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        times.append(time.perf_counter() - t)
    rest = sorted(times[2:])
    return rest[len(rest) // 2]


def main() -> None:
    print(f"torch threads: {torch.get_num_threads()}")
    for width, adv, output, gc in ((32, 0.0, "gain_residual", True), (32, 1.0, "gain_residual", True),
                                   (32, 0.0, "gain_residual", False), (32, 0.0, "gain", False),
                                   (16, 0.0, "gain_residual", True), (64, 0.0, "gain_residual", True)):
        s = time_iterations(build(width, adv, output, gc))
        print(f"width {width}, {output}, global_colour {gc}, lambda_adv {adv:g}: {s:.3f} s/iteration = "
              f"{16 / s:.0f} training images/s", flush=True)


if __name__ == "__main__":
    main()
