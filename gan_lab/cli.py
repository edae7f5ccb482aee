"""``gan-lab`` command: one sub-command per entry of ``COMMANDS``, each a module of gan_lab/commands/.

Everything after the sub-command is passed to the command module's ``main(argv)``.

The argument rule, the same for every command: Hydra-style ``key=value`` words (lists as ``a,b`` or
``[a,b]``), no ``--options`` and no bare positional words. train, tune and eval compose conf/ with Hydra
(train and tune also take Hydra's ``-m`` and ``--cfg job``); the other commands parse their words with
gan_lab.cli_args.parse_kv. ``gan-lab <command> -h`` (or ``--help``) prints the command's usage; an unknown,
missing or malformed key stops with one line naming it and exit status 2.

Adding a command: a module gan_lab/commands/<name>.py whose docstring starts with its usage line and whose
``main(argv)`` begins with ``if print_help(argv, __doc__): return``, plus one line here.
"""

from __future__ import annotations

import importlib
import sys

from gan_lab.errors import user_error_types

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("gan_lab.commands.train", "train a model: gan-lab train [key=value ...] [-m for sweeps]   (Hydra overrides)"),
    "eval": ("gan_lab.commands.eval", "evaluate a checkpoint: gan-lab eval ckpt_path=CKPT [metrics=[fid_clf,gan_test]]"),
    "translate": ("gan_lab.commands.translate",
                  "apply a translator: gan-lab translate ckpt_path=CKPT input=IMG_OR_DIR target=CLASS output=DIR"),
    "albedo-synth": ("gan_lab.commands.albedo_synth",
                     "render label photos + albedo + mask: gan-lab albedo-synth out=DIR n=N [size=128] [seed=0]"),
    "extract-albedo": ("gan_lab.commands.extract_albedo",
                       "photos -> albedo: gan-lab extract-albedo ckpt_path=CKPT input=IMG_OR_DIR output=DIR"),
    "albedo-eval": ("gan_lab.commands.albedo_eval",
                    "albedo table vs baselines: gan-lab albedo-eval [ckpts=A.ckpt,B.ckpt] [n=256]"),
    "tune": ("gan_lab.commands.tune",
             "Optuna study, one train run per trial: gan-lab tune [hparams_search=margin_optuna] [key=value ...]"),
    "compare": ("gan_lab.commands.compare",
                "compare runs in one HTML page: gan-lab compare runs=DIR[,DIR...] [out=report.html] [baseline=N|K=V]"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "usage: gan-lab <command> [arguments]\n\ncommands:\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS and any(a.startswith("hydra.job.name=train_ddp_process_") for a in argv):
        # Lightning's DDP launcher re-runs `python -m gan_lab.cli` + the Hydra overrides for ranks > 0,
        # without the sub-command: that is a `train` child process.
        cmd, rest = "train", argv
    if cmd not in COMMANDS:
        print(f"gan-lab: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        raise SystemExit(2)
    try:
        importlib.import_module(COMMANDS[cmd][0]).main(rest)
    except user_error_types() as e:
        print(f"gan-lab {cmd}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
