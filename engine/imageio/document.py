"""The in-memory image: :class:`ImageDocument` (pixels, alpha aside, metadata to round-trip)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from engine.core.errors import ParameterError

__all__ = ["KEEP", "ImageDocument", "resize_alpha"]


class _Keep:
    """Sentinel type of :data:`KEEP` ("keep the current alpha")."""

    _instance: _Keep | None = None

    def __new__(cls) -> _Keep:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
"""Default of :meth:`ImageDocument.with_pixels`'s ``alpha``: keep (and resize) the current alpha."""


def resize_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an ``(H, W)`` alpha plane to ``(height, width)``: bicubic up, area-averaged down, clipped."""
    if alpha.shape == (height, width):
        return alpha
    import cv2

    up = width >= alpha.shape[1] and height >= alpha.shape[0]
    interp = cv2.INTER_CUBIC if up else cv2.INTER_AREA
    out = cv2.resize(np.ascontiguousarray(alpha, np.float32), (width, height), interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _check_pixels(pixels: np.ndarray) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise ParameterError(f"image pixels must be an (H, W, 1|3) array, got {shape}")
    if pixels.dtype != np.float32:
        raise ParameterError(f"image pixels must be float32 in [0, 1], got {pixels.dtype}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ParameterError(f"image has no pixels: shape {pixels.shape}")


@dataclass(frozen=True)
class ImageDocument:
    """A decoded image plus what is needed to save it back faithfully.

    - ``pixels``: ``(H, W, C)`` float32 in ``[0, 1]``, ``C`` in ``{1, 3}``, orientation applied.
    - ``alpha``: ``(H, W)`` float32 in ``[0, 1]`` or ``None``; kept aside from the filters.
    - ``bit_depth``: bits per channel in the source: 8, 16 or 32 (32 = floating point).
    - ``icc_profile``/``exif``: raw blocks, written back where the format can hold them; the EXIF
      orientation tag is already reset to 1 (the rotation is baked into ``pixels``).
    - ``format``: the source format ("PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF").
    - ``warnings``: one-line notes about the load (animated file: first frame only; CMYK converted...).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    icc_profile: bytes | None
    exif: bytes | None
    format: str
    source: Path | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_pixels(self.pixels)
        if self.alpha is not None:
            if not isinstance(self.alpha, np.ndarray) or self.alpha.shape != self.pixels.shape[:2]:
                raise ParameterError(
                    f"alpha must be an (H, W) array matching the pixels {self.pixels.shape[:2]}, "
                    f"got {getattr(self.alpha, 'shape', None)}"
                )
            if self.alpha.dtype != np.float32:
                raise ParameterError(f"alpha must be float32 in [0, 1], got {self.alpha.dtype}")
        if self.bit_depth not in (8, 16, 32):
            raise ParameterError(f"bit depth {self.bit_depth} is not 8, 16 or 32")

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.pixels.shape[0])

    @property
    def channels(self) -> int:
        """Colour channels (1 or 3), alpha not counted."""
        return int(self.pixels.shape[2])

    @property
    def megapixels(self) -> float:
        """``width * height / 1e6``."""
        return self.width * self.height / 1e6

    @property
    def has_alpha(self) -> bool:
        """Whether an alpha plane is kept aside."""
        return self.alpha is not None

    def with_pixels(self, pixels: np.ndarray, alpha: np.ndarray | None | _Keep = KEEP) -> ImageDocument:
        """A copy holding new ``pixels`` (e.g. a filter's output), metadata unchanged.

        With ``alpha=KEEP`` the current alpha is kept, resized with a good filter (bicubic up,
        area down) when the size changed, e.g. after super-resolution. Pass an array or ``None``
        to replace or drop it.
        """
        _check_pixels(pixels)
        if isinstance(alpha, _Keep):
            new_alpha = self.alpha
            if new_alpha is not None:
                new_alpha = resize_alpha(new_alpha, pixels.shape[1], pixels.shape[0])
        else:
            new_alpha = alpha
        return dataclasses.replace(self, pixels=pixels, alpha=new_alpha)
