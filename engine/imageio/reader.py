"""Reading images: :func:`read_image`, :func:`decode_image` and :func:`read_mask`.

The format is found from the content (:mod:`engine.imageio.sniff`), the pixel limit is checked
from the header, the matching decoder (:mod:`engine.imageio.decoders`) produces raw samples,
then the EXIF orientation is applied and samples are scaled to float32 in [0, 1].
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

from engine.core.errors import ParameterError
from engine.imageio.decoders import decode_pillow, decode_png16, decode_tiff_highbit, tiff_needs_highbit
from engine.imageio.document import ImageDocument
from engine.imageio.exif import apply_orientation, reset_orientation
from engine.imageio.failures import read_failure
from engine.imageio.info import ImageInfo, image_info
from engine.core.files import open_regular
from engine.imageio.limits import ENV_MAX_PIXELS, check_pixel_count, max_pixels_limit
from engine.imageio.sniff import png_ihdr, quick_size, sniff_format, unknown_format

__all__ = ["ImageInfo", "decode_image", "image_info", "read_image", "read_mask", "sniff_format"]


HEAD_BYTES = 64 * 1024
"""How much of a file is read to recognise its format and claimed size before the rest."""

BYTES_PER_PIXEL_MAX = 16
"""The most bytes one pixel can take in a supported file (uncompressed 32-bit float RGBA)."""


def _open_failure(path: Path, exc: OSError) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return read_failure(path, "the file does not exist; check the path")
    if isinstance(exc, PermissionError):
        return read_failure(path, "permission denied; check the file's permissions (chmod u+r)")
    return read_failure(path, f"{exc.strerror or exc}")


def _read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of an image file, read only after the header passed the checks.

    Refuses without blocking anything but a regular file (FIFO, ``/dev/zero``, socket,
    folder); sniffs the format from the first :data:`HEAD_BYTES` and checks the size
    the header claims against ``limit``; refuses a file larger than any image of ``limit``
    pixels could be (``limit * 16`` bytes plus 64 MiB of metadata) before reading it whole.
    """
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise read_failure(path, "the file is empty (0 bytes); it is not an image")
            head = fh.read(HEAD_BYTES)
            fmt = sniff_format(head[:16])
            if fmt is None:
                raise unknown_format(path, head[:64])
            if (claimed := quick_size(head, fmt)) is not None:
                check_pixel_count(claimed[0], claimed[1], limit, path)
            ceiling = limit * BYTES_PER_PIXEL_MAX + (64 << 20)
            if size > ceiling:
                raise read_failure(
                    path,
                    f"the file is {size / 2**30:.1f} GiB, more than any image within the limit of {limit / 1e6:g} "
                    f"megapixels can take; if you trust it, raise {ENV_MAX_PIXELS}",
                )
            return head + fh.read()
    except OSError as exc:
        raise _open_failure(path, exc) from None
    except MemoryError:
        raise read_failure(path, "not enough memory to read this file") from None


def _to_unit(values: np.ndarray, scale: float) -> np.ndarray:
    out = values.astype(np.float32)
    if scale != 1.0:
        out /= np.float32(scale)
    else:
        out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out)


def decode_image(data: bytes, *, max_pixels: int | None = None, source: str | Path | None = None) -> ImageDocument:
    """Decode an in-memory image file; same contract and errors as :func:`read_image`.

    ``source`` only names the data in messages and in :attr:`ImageDocument.source`.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        document = _decode(data, max_pixels, source)
    notes = [n for n in dict.fromkeys(_warning_note(w.message) for w in caught) if n]
    return dataclasses.replace(document, warnings=(*document.warnings, *notes)) if notes else document


def _warning_note(message: Warning | str) -> str:
    """A decoder's Python warning (Pillow: "Tag data larger than file...") as a one-line note."""
    if isinstance(message, ResourceWarning):
        return ""
    text = " ".join(str(message).split())
    return f"metadata problem ignored: {text}" if text else ""


def _decode(data: bytes, max_pixels: int | None, source: str | Path | None) -> ImageDocument:
    limit = max_pixels_limit(max_pixels)
    name = source if source is not None else "<memory>"
    if not data:
        raise read_failure(name, "the file is empty (0 bytes); it is not an image")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise unknown_format(name, data[:64])
    if (size := quick_size(data, fmt)) is not None:
        check_pixel_count(size[0], size[1], limit, name)
    if fmt == "PNG" and (ihdr := png_ihdr(data)) is not None and ihdr[2] == 16:
        decoded = decode_png16(data, limit, name)
    elif fmt == "TIFF" and tiff_needs_highbit(data, limit, name):
        decoded = decode_tiff_highbit(data, name)
    else:
        decoded = decode_pillow(data, fmt, limit, name)
    color = _to_unit(apply_orientation(decoded.color, decoded.orientation), decoded.scale)
    alpha = None
    if decoded.alpha is not None:
        alpha = _to_unit(apply_orientation(decoded.alpha, decoded.orientation), decoded.scale)
        if np.all(alpha >= 1.0):
            alpha = None  # fully opaque: nothing to keep aside
    return ImageDocument(
        pixels=np.ascontiguousarray(color),
        alpha=None if alpha is None else np.ascontiguousarray(alpha),
        bit_depth=decoded.bit_depth,
        icc_profile=decoded.icc,
        exif=reset_orientation(decoded.exif),
        format=decoded.fmt,
        source=Path(source) if source is not None else None,
        warnings=tuple(decoded.warnings),
    )


def read_image(path: str | Path, *, max_pixels: int | None = None) -> ImageDocument:
    """Read an image file into an :class:`ImageDocument` (EXIF orientation applied).

    Accepts PNG, JPEG, TIFF, WebP, BMP (and GIF, first frame) in 8/16-bit integer or 32-bit
    float, gray, RGB, RGBA, LA, palette, 1-bit and CMYK (converted to RGB). The format is
    found from the content, not the extension. ``max_pixels`` (default
    ``$CLARITY_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`) is checked from the header before
    any pixel is decoded.

    Raises :class:`~engine.core.errors.ImageTooLargeError` over the limit and
    :class:`~engine.core.errors.UnsupportedImageError` for missing, unreadable, empty, corrupt,
    truncated or unknown files; the message names the file.
    """
    p = Path(os.fspath(path))
    limit = max_pixels_limit(max_pixels)
    return decode_image(_read_bytes(p, limit), max_pixels=limit, source=p)


def read_mask(path: str | Path, width: int, height: int) -> np.ndarray:
    """Read a selection mask: ``(height, width)`` float32 in ``[0, 1]`` (1 = filter fully).

    A file with transparency gives its alpha channel; otherwise its gray value (Rec. 601 luma
    for colour files). Raises :class:`~engine.core.errors.ParameterError` when the mask's size
    differs from ``width`` x ``height``.
    """
    doc = read_image(path)
    if (doc.width, doc.height) != (width, height):
        raise ParameterError(
            f"mask '{path}' is {doc.width}x{doc.height} but the image is {width}x{height}; "
            "make the mask exactly the image's size"
        )
    if doc.alpha is not None:
        return doc.alpha.copy()
    if doc.channels == 1:
        return doc.pixels[..., 0].copy()
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(doc.pixels @ weights, 0.0, 1.0).astype(np.float32)
