"""``gan-lab`` command: train | eval | translate (and, as they land, albedo-synth | extract-albedo | compare).

``gan-lab train [hydra overrides]`` composes conf/train.yaml; everything after the sub-command
is passed to Hydra (``-m`` for sweeps, ``--cfg job`` to print the config).
"""

from __future__ import annotations

import sys

from gan_lab.errors import user_error_types

USAGE = """usage: gan-lab <command> [arguments]

commands:
  train       train a model: gan-lab train [key=value ...] [-m for sweeps]   (Hydra overrides; conf/train.yaml)
  eval        evaluate a checkpoint: gan-lab eval ckpt_path=CKPT [metrics=[fid_clf,gan_test]] [n_samples=N]
  translate   apply a translator: gan-lab translate ckpt_path=CKPT input=IMG_OR_DIR target=CLASS output=DIR
"""


def _run_hydra(entry, prog: str, rest: list[str]) -> None:
    sys.argv = [prog] + rest
    entry()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "train":
            from gan_lab.train import main as train_main

            _run_hydra(train_main, "gan-lab-train", rest)
        elif cmd == "eval":
            from gan_lab.eval_command import main as eval_main

            eval_main(rest)
        elif cmd == "translate":
            from gan_lab.translate import main as translate_main

            translate_main(rest)
        else:
            print(f"gan-lab: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
            raise SystemExit(2)
    except user_error_types() as e:
        print(f"gan-lab {cmd}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
