"""Learning-rate schedules as pure functions of the step (nothing to checkpoint).

``lr_at(step, ...)`` is the learning rate used for optimizer step ``step`` (0-based):
linear warmup from ``lr / warmup`` to ``lr`` over ``warmup_steps``, then

- ``cosine``: half-cosine from ``lr`` down to ``min_lr`` at ``total_steps``;
- ``multistep``: ``lr * gamma ** (number of milestones <= step)``;
- ``constant``: ``lr``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from engine.training.config import OptimConfig


def lr_at(
    step: int,
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: str = "cosine",
    min_lr: float = 0.0,
    milestones: Sequence[int] = (),
    gamma: float = 0.5,
) -> float:
    """Learning rate for 0-based ``step``; see the module docstring."""
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, max(0.0, (step - warmup_steps) / span))
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "multistep":
        return lr * gamma ** sum(1 for m in milestones if step >= m)
    if schedule == "constant":
        return lr
    raise ValueError(f"unknown schedule {schedule!r}")


def lr_for(cfg: OptimConfig, step: int, total_steps: int) -> float:
    """:func:`lr_at` with the values of an :class:`OptimConfig`."""
    return lr_at(
        step,
        lr=cfg.lr,
        total_steps=total_steps,
        warmup_steps=cfg.warmup_steps,
        schedule=cfg.schedule,
        min_lr=cfg.min_lr,
        milestones=cfg.milestones,
        gamma=cfg.gamma,
    )
