"""Rebuild a trained module from a checkpoint without knowing its class in advance."""

from __future__ import annotations

from pathlib import Path

from gan_lab.checkpoints import load_checkpoint
from gan_lab.modules.registry import MODULES
from gan_lab.registry import ConfigError

_HEAD_KEYS = ("scale", "margin", "easy_margin")
_ALBEDO_OBJECTIVE = ("lambda_adv", "lambda_l1", "lambda_si_mse", "lambda_grad", "grad_scales", "lambda_ssim",
                     "lambda_fm", "l1_outside_mask")


def upgrade_hparams(hp: dict) -> dict:
    """Hyper-parameters of a checkpoint written before the ``loss`` group was split (one ``loss`` node holding
    the head, the adversarial loss and the model's weights) in today's form: ``head``, ``adversarial`` and
    ``model.objective``; one from before DiffAugment gets ``model.diffaugment=[]`` (off, as it trained), one
    from before the fused step ``model.fused_step=false`` (StarGAN's loop, as it trained).
    Today's checkpoints pass through unchanged."""
    hp = dict(hp)
    if hp["model"]["module"] != "albedo" and "diffaugment" not in hp["model"]:
        hp["model"] = {**hp["model"], "diffaugment": []}
    if hp["model"]["module"] != "albedo" and "fused_step" not in hp["model"]:
        hp["model"] = {**hp["model"], "fused_step": False}
    if "loss" not in hp:
        return hp
    loss, model = dict(hp.pop("loss")), dict(hp["model"])
    hp["adversarial"] = {"name": loss["adversarial"], "lambda_gp": float(loss.get("lambda_gp", 0.0))}
    if model["module"] == "albedo":
        hp["head"] = {"name": "none"}
        model["objective"] = {k: loss[k] for k in _ALBEDO_OBJECTIVE if k in loss}
    else:
        head = {"name": loss["name"], "lambda_cls": float(loss.get("lambda_cls", 1.0))}
        if loss["name"] != "softmax":
            head["reference_scale"] = loss.get("cls_reference_scale")
            head.update({k: loss[k] for k in _HEAD_KEYS if k in loss and (k != "easy_margin" or loss["name"] == "aam")})
        hp["head"] = head
        if model["module"] == "translation":
            model["objective"] = {"lambda_rec": float(loss.get("lambda_rec", 10.0))}
    hp["model"] = model
    return hp


def module_args(cfg) -> dict:
    """The config nodes a module is built from (``model``, ``head``, ``adversarial``) as plain dicts."""
    from omegaconf import OmegaConf

    return {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "head", "adversarial")}


def load_module(ckpt_path: str | Path, map_location: str = "cpu"):
    """The module saved in ``ckpt_path`` (class chosen by its ``model.module`` hyper-parameter), in eval mode."""
    ckpt = load_checkpoint(Path(ckpt_path), map_location=map_location)  # one clear error when unreadable
    hp = ckpt.get("hyper_parameters")
    if not hp or "model" not in hp:
        raise ConfigError(f"ckpt_path={ckpt_path} has no gan_lab hyper-parameters; was it written by gan-lab train?")
    hp = upgrade_hparams(dict(hp))
    module = MODULES.get(hp["model"]["module"])(**hp)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    module.checkpoint_step = int(ckpt.get("global_step", 0))
    return module
