"""Geometric self-ensemble: run a network on flipped / rotated copies of a tile and average.

Image statistics do not change under flips and 90-degree rotations, but a trained network's
errors do, so the mean of its outputs over the eight symmetries of the square (the dihedral
group) is a better estimate than any one of them: +0.12 dB for the Denoise U-Net on CBSD68 at
sigma 25, +0.22 dB for Upscale x2 on Set5 (docs/performance.md, "Self-ensemble"), at 8x the
compute; this is the "+" of EDSR+ / RCAN+ in the super-resolution literature. Only where the
degradation itself looks the same turned or flipped: see ``NetworkSpec.ensemble``.

:func:`ensemble_forward` is the one place that does it; :mod:`engine.runner` calls it for every
batch of tiles with ``RunOptions.ensemble`` passes:

- 1: the network once (the default);
- 2: also the left-right mirror;
- 4: the shape-keeping symmetries (identity, mirror, 180-degree rotation and its mirror);
- 8: all eight (the four 90-degree rotations, each with and without the mirror).

Each pass transforms the ``(N, C, H, W)`` input (contiguous again, in the input's memory format:
channels_last stays channels_last), runs ``forward``, undoes the transform on the
output (which may be ``s`` times larger: flips and rotations commute with upscaling) and adds it
to a float32 sum. A 90-degree rotation swaps ``H`` and ``W``; both are multiples of the plugin's
``size_multiple``, so the network accepts the rotated tile. A network that is local within its
``context`` stays local under every pass, so tiled and whole-image runs still agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.core.types import ENSEMBLE_PASSES

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class Symmetry:
    """One symmetry of the square: ``quarter_turns`` counter-clockwise turns after an optional left-right mirror."""

    quarter_turns: int
    mirror: bool

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The transformed ``(N, C, H, W)`` batch."""
        import torch

        y = x.flip(-1) if self.mirror else x
        return torch.rot90(y, self.quarter_turns, dims=(-2, -1)) if self.quarter_turns else y

    def undo(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse transform (rotate back, then mirror back)."""
        import torch

        z = torch.rot90(y, -self.quarter_turns, dims=(-2, -1)) if self.quarter_turns else y
        return z.flip(-1) if self.mirror else z


def symmetries(passes: int) -> tuple[Symmetry, ...]:
    """The symmetries used for ``passes`` (one of :data:`ENSEMBLE_PASSES`; the identity first)."""
    if passes not in ENSEMBLE_PASSES:
        raise ValueError(f"self-ensemble takes {', '.join(map(str, ENSEMBLE_PASSES))} passes, not {passes}")
    turns = {1: (0,), 2: (0,), 4: (0, 2), 8: (0, 1, 2, 3)}[passes]
    mirrors = (False,) if passes == 1 else (False, True)
    return tuple(Symmetry(t, m) for t in turns for m in mirrors)


def _like(t: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``t`` (a flipped / rotated view) made contiguous in ``reference``'s memory format (channels_last or not)."""
    import torch

    channels_last = reference.dim() == 4 and reference.is_contiguous(memory_format=torch.channels_last)
    return t.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def ensemble_forward(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    passes: int,
    between: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Mean of ``forward`` over the ``passes`` symmetries of ``x`` (``forward(x)`` itself when 1).

    ``between`` runs before every pass after the first (the runner's cancel check, so a long
    ensemble of one whole-image tile can still be cancelled). An output whose shape does not
    match the first pass's after undoing the transform raises ``ValueError`` (a network that is
    not equivariant in shape, e.g. one that only accepts square or landscape tiles).
    """
    chosen = symmetries(passes)
    if passes == 1:
        return forward(x)
    total: torch.Tensor | None = None
    for symmetry in chosen:
        if total is not None and between is not None:
            between()
        y = symmetry.undo(forward(_like(symmetry.apply(x), x))).float()
        if total is None:
            total = y.clone()
        elif y.shape != total.shape:
            raise ValueError(f"a transformed pass returned {tuple(y.shape)}, the first pass {tuple(total.shape)}")
        else:
            total += y
    assert total is not None  # passes >= 2
    return total / len(chosen)
