"""``gan-lab train [key=value ...] [-m]``.

Trains a model; the arguments are Hydra overrides of conf/train.yaml. ``-m`` runs a sweep (``-m seed=0,1,2``; with ``hparams_search=<name>`` an Optuna study, see ``gan-lab tune``),
``--cfg job`` prints the composed config. The training itself is the pure function gan_lab.train.train(cfg);
this command is its Hydra entry point (gan_lab.train.main). Hydra's listing of the config groups follows.
"""

from __future__ import annotations

from gan_lab.cli_args import print_help


def main(argv: list[str]) -> None:
    print_help(argv, __doc__)  # then Hydra's own --help: the config groups and the composed config
    from gan_lab.train import main as train_main

    train_main(argv)
