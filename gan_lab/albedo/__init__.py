"""The albedo task's evaluation library (no CLI): held-out evaluation (evaluation.py, also used during
training), the no-training baselines (baselines.py) and the comparison table (table.py).
The command that ties them together is ``gan-lab albedo-eval`` (gan_lab.commands.albedo_eval)."""
