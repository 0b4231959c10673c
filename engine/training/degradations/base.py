"""The degradation contract shared by the trainer and the synthesis code.

A :class:`Degradation` turns a batch of clean images into a :class:`DegradedBatch` (network
input + target + labels). Contract for every implementation:

- ``clean`` is ``(N, C, H, W)`` float in ``[0, 1]`` (C = 1 or 3) on any device; every output
  tensor is on that same device and dtype.
- All randomness comes from the ``torch.Generator`` passed in (which must live on ``clean``'s
  device), so a fixed generator seed gives the same batch on every run.
- ``clean`` is never modified in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

KINDS: tuple[str, ...] = ("none", "awgn", "camera", "sr", "rain", "haze", "snow")
"""Every per-sample label a degradation may put in :attr:`DegradedBatch.kind`."""


@dataclass(frozen=True)
class DegradedBatch:
    """One synthesized training batch.

    - ``degraded``: ``(N, C, h, w)`` network input (for SR the low-resolution image, ``h = H / scale``).
    - ``clean``: ``(N, C, H, W)`` target.
    - ``kind``: per-sample label, one of :data:`KINDS`.
    - ``sigma``: ``(N,)`` noise standard deviation on the [0, 1] scale, when known.
    - ``upsampled``: SR only: the LR image bicubic-upsampled back to ``H x W`` (input of
      pre-upsampling networks such as RED-Net / VDSR).
    - ``scale``: SR factor of the batch (1 otherwise).
    """

    degraded: torch.Tensor
    clean: torch.Tensor
    kind: tuple[str, ...]
    sigma: torch.Tensor | None = None
    upsampled: torch.Tensor | None = None
    scale: int = 1


@runtime_checkable
class Degradation(Protocol):
    """Anything with a ``name`` that maps ``(clean, generator)`` to a :class:`DegradedBatch`."""

    name: str

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch: ...


def uniform(n: int, low: float, high: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``(n,)`` samples uniform in ``[low, high)`` drawn from ``generator`` on ``like``'s device/dtype."""
    u = torch.rand(n, generator=generator, device=like.device, dtype=torch.float32)
    return (low + (high - low) * u).to(like.dtype)


def randn_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise of ``x``'s shape, dtype and device, drawn from ``generator``."""
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32).to(x.dtype)


def check_clean(clean: torch.Tensor, who: str) -> None:
    """Raise a :class:`ClarityError` unless ``clean`` is ``(N, 1|3, H, W)`` floating point."""
    from engine.core.errors import ClarityError

    if clean.ndim != 4 or clean.shape[1] not in (1, 3) or not clean.is_floating_point():
        raise ClarityError(
            f"degradation '{who}' needs a float (N, 1|3, H, W) batch in [0, 1], got {tuple(clean.shape)} {clean.dtype}"
        )
