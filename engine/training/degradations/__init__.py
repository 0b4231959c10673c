"""Batched, seeded, device-agnostic degradation synthesis for training restoration models.

Public interface (used by the trainer)::

    from engine.training.degradations import DegradedBatch, Degradation, parse_degradation
    deg = parse_degradation("awgn:0-55")
    batch = deg(clean, generator)      # clean: (N, C, H, W) in [0, 1] on any device

Specs understood by :func:`parse_degradation`:

- ``"awgn:25"`` fixed sigma (0-255 scale); ``"awgn:0-55"`` blind (per-image sigma uniform in range)
- ``"camera"`` realistic camera noise (Poisson-Gaussian on linear RGB, demosaic, gamma, JPEG);
  ``"camera:grain"`` adds coarse grain on half the images; ``"camera:mixed"`` also turns a
  quarter of a colour batch into gray scans stored as RGB (target: their luma)
- ``"bicubic:4"`` or ``"bicubic:2,3,4"`` (per-batch random scale), MATLAB-style bicubic
- ``"rain"``, ``"haze"``, ``"snow"``; ``"mix:rain,haze,snow"`` (per-sample choice); ``"haze:veil"``
  makes half the hazy images a near-uniform veil (the real-haze pairs' kind) instead of a depth ramp
- ``"none"`` (identity: degraded == clean)

Only torch is used (no Pillow, OpenCV or scikit-image), so this runs on the training machine.
"""

from __future__ import annotations

from engine.training.degradations.base import KINDS, Degradation, DegradedBatch
from engine.training.degradations.parse import parse_degradation

__all__ = ["KINDS", "Degradation", "DegradedBatch", "parse_degradation"]
