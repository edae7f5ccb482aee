"""``gan-lab tune [hparams_search=margin_optuna] [key=value ...]``.

The same as ``gan-lab train -m hparams_search=...``: runs (or resumes) an Optuna study, one ordinary ``gan-lab train`` process per trial; the arguments are
Hydra overrides of conf/train.yaml as for ``gan-lab train`` (``-m`` is implied and may be left out). The
search space, trial count and objective are ``optuna:`` and ``optimized_metric`` in
conf/hparams_search/<name>.yaml. The study logic is gan_lab.sweep.tune.
"""

from __future__ import annotations

from gan_lab.cli_args import print_help


def main(argv: list[str]) -> None:
    if print_help(argv, __doc__):
        return
    from gan_lab.sweep.tune import tune

    tune([a for a in argv if a not in ("-m", "--multirun")])
