"""Sweeps: resumable multirun jobs (skip finished ones), W&B grouping per sweep, Optuna tuning (``gan-lab tune``)."""
