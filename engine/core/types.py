"""Frozen value types shared by the engine, the command line and the GUI.

Images are ``numpy.float32`` arrays of shape ``(H, W, C)`` with values in ``[0, 1]``
and ``C`` in ``{1, 3}`` (alpha is kept aside by :mod:`engine.io`). Masks are
``float32`` arrays of shape ``(H, W)`` in ``[0, 1]`` (1 = apply the filter fully).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from engine.core.errors import ParameterError

ENSEMBLE_PASSES = (1, 2, 4, 8)
"""Geometric self-ensemble pass counts a run accepts (``RunOptions.ensemble``, :mod:`engine.ensemble`)."""


class Precision(str, enum.Enum):
    """Numeric precision of a run. ``AUTO`` means fp16/bf16 on a GPU where the plugin allows it."""

    AUTO = "auto"
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


class DeviceKind(str, enum.Enum):
    """Where a run executes. ``AUTO`` picks CUDA, then MPS, then the CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class Backend(str, enum.Enum):
    """What runs the network forward on the CPU (GPUs always use PyTorch).

    ``AUTO`` uses ONNX Runtime for a plugin when it measured faster than PyTorch for that
    plugin on this machine (see :mod:`engine.backends.choice`), PyTorch otherwise.
    """

    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"


@dataclass(frozen=True)
class Region:
    """The one rectangle type of engine, app and CLI: image pixels, ``x``, ``y`` = top-left corner.

    It covers columns ``x0 <= col < x1`` and rows ``y0 <= row < y1`` (half-open bounds);
    ``image[region.slices]`` is its part of an ``(H, W, ...)`` array. Never empty, never negative.
    """

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ParameterError(f"region {self.width}x{self.height} is empty; width and height must be positive")
        if self.x < 0 or self.y < 0:
            raise ParameterError(f"region origin ({self.x}, {self.y}) is negative")

    @classmethod
    def from_bounds(cls, x0: int, y0: int, x1: int, y1: int) -> Region:
        """The rectangle of columns ``x0..x1-1`` and rows ``y0..y1-1``."""
        return cls(x0, y0, x1 - x0, y1 - y0)

    @classmethod
    def bounding(cls, mask: np.ndarray, threshold: float = 0.0) -> Region | None:
        """The smallest rectangle holding every pixel of an ``(H, W)`` mask above ``threshold``; ``None`` if none is."""
        hit = np.asarray(mask) > threshold
        rows = np.flatnonzero(hit.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(hit.any(axis=0))
        return cls.from_bounds(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)

    @property
    def x0(self) -> int:
        """First column (same as ``x``)."""
        return self.x

    @property
    def y0(self) -> int:
        """First row (same as ``y``)."""
        return self.y

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def y1(self) -> int:
        """One past the last row."""
        return self.y + self.height

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices: ``array[region.slices]`` is the rectangle's part of an image or mask."""
        return slice(self.y, self.y1), slice(self.x, self.x1)

    def intersect(self, other: Region) -> Region | None:
        """The overlap of two rectangles, or ``None`` when they do not overlap."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return Region.from_bounds(x0, y0, x1, y1)

    @classmethod
    def parse(cls, text: str) -> Region:
        """Parse ``"X,Y,W,H"`` (the command line's ``--region``)."""
        parts = text.replace(" ", "").split(",")
        if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
            raise ParameterError(f"region '{text}' is not X,Y,W,H with four integers, e.g. 10,20,300,200")
        x, y, w, h = (int(p) for p in parts)
        return cls(x, y, w, h)

    def clipped(self, width: int, height: int) -> Region:
        """The part of this region inside a ``width`` x ``height`` image; raises if none is."""
        x0, y0 = min(self.x, width), min(self.y, height)
        x1, y1 = min(self.x + self.width, width), min(self.y + self.height, height)
        if x1 <= x0 or y1 <= y0:
            raise ParameterError(f"region {self.x},{self.y},{self.width},{self.height} lies outside the {width}x{height} image")
        return Region(x0, y0, x1 - x0, y1 - y0)

    def to_mask(self, width: int, height: int) -> np.ndarray:
        """A binary ``(height, width)`` float32 mask that is 1 inside the (clipped) region."""
        r = self.clipped(width, height)
        mask = np.zeros((height, width), np.float32)
        mask[r.y : r.y + r.height, r.x : r.x + r.width] = 1.0
        return mask


@dataclass(frozen=True)
class Progress:
    """Progress of one run: ``done`` of ``total`` work units (tiles) finished."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """Finished fraction in ``[0, 1]``."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]

ResolvedValue = Union[float, int, bool, str]
"""A parameter value a plugin resolved for one run (same types as ``plugins.api.ParamValue``)."""


def format_resolved(resolved: Mapping[str, ResolvedValue]) -> str:
    """``"noise_level=14.2, model=camera"``: resolved values for one line of output (floats to 1 decimal)."""
    return ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in resolved.items())


@dataclass(frozen=True)
class RunOptions:
    """How to run a plugin. ``None`` means "let the engine decide".

    - ``tile``: tile edge in input pixels (``None``: automatic; ``0``: whole image).
    - ``overlap``: overlap in input pixels; never less than the plugin's declared context.
    - ``strength``: blend with the original, 0 (unchanged) to 1 (full filter).
    - ``tiles_per_batch``: tiles sent to the network in one forward (GPU; ``None``: automatic).
    - ``backend``: what runs the network on the CPU (:class:`Backend`; GPUs always use PyTorch;
      ``None``: the process default, see :func:`engine.backends.set_default_backend`).
    - ``ensemble``: geometric self-ensemble passes per tile, 1 (off), 2, 4 or 8
      (:mod:`engine.ensemble`): higher quality, that many times the compute.
    """

    tile: int | None = None
    overlap: int | None = None
    device: DeviceKind = DeviceKind.AUTO
    precision: Precision = Precision.AUTO
    strength: float = 1.0
    tiles_per_batch: int | None = None
    backend: Backend | None = None
    ensemble: int = 1

    def __post_init__(self) -> None:
        if self.ensemble not in ENSEMBLE_PASSES:
            allowed = ", ".join(map(str, ENSEMBLE_PASSES))
            raise ParameterError(f"self-ensemble passes must be one of {allowed}, not {self.ensemble}")
        if not 0.0 <= self.strength <= 1.0:
            raise ParameterError(f"strength {self.strength} is outside 0..1 (the command line takes 0-100)")
        if self.tile is not None and self.tile < 0:
            raise ParameterError(f"tile size {self.tile} is negative; use 0 for whole-image processing")
        if self.overlap is not None and self.overlap < 0:
            raise ParameterError(f"overlap {self.overlap} is negative")


@dataclass(frozen=True)
class RunResult:
    """The output of one run plus how it was computed.

    ``image`` has the input's channel count and covers ``area`` of the input, ``scale`` times
    larger: ``image.shape[:2] == (area.height * scale, area.width * scale)``. ``area`` is the
    whole input, except for a masked run with ``scale > 1``, which returns only the mask's
    bounding box (so the caller crops anything it keeps beside the pixels, e.g. alpha, to it).
    ``resolved`` holds the parameter values the plugin's ``analyse`` resolved on the whole image
    (e.g. ``{"noise_level": 14.2}`` for an ``"auto"`` noise level), by name; empty if none.
    ``backend`` is what ran the network: ``"torch"`` or ``"onnx"``.
    """

    image: np.ndarray
    seconds: float
    device: str
    precision: Precision
    tile: int
    tiles: int
    area: Region
    scale: int = 1
    warnings: tuple[str, ...] = field(default_factory=tuple)
    resolved: Mapping[str, ResolvedValue] = field(default_factory=dict)
    backend: str = "torch"
