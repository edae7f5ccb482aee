"""How a run is launched: the DDP-under-multirun guard and the SLURM cluster environment."""
