"""Synthetic brand-label renders: products with printed labels under varied light, paired with albedo.

Public API: ``render_batch``, ``render_sample``, ``RenderBatch``, ``RenderConfig`` (see render.py).
"""

from gan_lab.synth.config import RenderConfig
from gan_lab.synth.render import RenderBatch, render_batch, render_sample

__all__ = ["RenderBatch", "RenderConfig", "render_batch", "render_sample"]
