"""The decompression-bomb limit: how many pixels an image may have before we refuse to decode it."""

from __future__ import annotations

import os

from engine.core.errors import ImageTooLargeError, ParameterError

__all__ = ["DEFAULT_MAX_PIXELS", "ENV_MAX_PIXELS", "check_pixel_count", "max_pixels_limit"]

DEFAULT_MAX_PIXELS: int = 200_000_000
"""Largest accepted ``width * height``; the ``CLARITY_MAX_PIXELS`` environment variable overrides it."""

ENV_MAX_PIXELS = "CLARITY_MAX_PIXELS"


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The limit in force: ``max_pixels`` if given, else ``$CLARITY_MAX_PIXELS``, else the default."""
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
            raise ParameterError(f"max_pixels must be a positive integer, got {max_pixels!r}")
        return max_pixels
    text = os.environ.get(ENV_MAX_PIXELS, "").strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit() or int(text) <= 0:
        raise ParameterError(
            f"{ENV_MAX_PIXELS}={os.environ[ENV_MAX_PIXELS]!r} is not a positive whole number of pixels, "
            f"e.g. {ENV_MAX_PIXELS}=400000000"
        )
    return int(text)


def check_pixel_count(width: int, height: int, limit: int, source: object) -> None:
    """Raise :class:`ImageTooLargeError` when ``width * height`` exceeds ``limit`` (called before decoding)."""
    if width * height > limit:
        raise ImageTooLargeError(
            f"'{source}' is {width}x{height} ({width * height / 1e6:.0f} megapixels), more than the limit of "
            f"{limit / 1e6:g} megapixels; if you trust the file, raise the limit with the environment variable "
            f"{ENV_MAX_PIXELS} (e.g. {ENV_MAX_PIXELS}={max(limit * 2, width * height)})"
        )
