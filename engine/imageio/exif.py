"""Minimal, bounds-checked EXIF handling: find and reset the orientation tag, apply orientations.

We patch the orientation value *in place* in the raw block instead of re-serialising it, so
maker notes and other offset-sensitive data survive a load/save round trip untouched.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["EXIF_HEADER", "apply_orientation", "exif_orientation", "normalise_exif", "reset_orientation"]

EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
_SHORT = 3


def normalise_exif(raw: bytes | None) -> bytes | None:
    """The block with the ``Exif\\0\\0`` header (WebP stores it without); ``None`` when empty or not TIFF-like."""
    if not raw:
        return None
    body = raw[len(EXIF_HEADER) :] if raw.startswith(EXIF_HEADER) else raw
    if body[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    return EXIF_HEADER + body


def _orientation_offset(block: bytes) -> int | None:
    """Byte offset (in ``block``) of IFD0's orientation SHORT value, or ``None`` if absent or malformed."""
    base = len(EXIF_HEADER) if block.startswith(EXIF_HEADER) else 0
    tiff = block[base:]
    if len(tiff) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        tag, typ, n = struct.unpack(order + "HHI", tiff[entry : entry + 8])
        if tag == _ORIENTATION_TAG:
            if typ != _SHORT or n != 1:
                return None
            return base + entry + 8
    return None


def exif_orientation(block: bytes | None) -> int:
    """The EXIF orientation (1-8) stored in ``block``; 1 when absent or invalid."""
    if not block:
        return 1
    off = _orientation_offset(block)
    if off is None:
        return 1
    order = "<" if block[len(EXIF_HEADER) if block.startswith(EXIF_HEADER) else 0 :][:2] == b"II" else ">"
    (value,) = struct.unpack(order + "H", block[off : off + 2])
    return value if 1 <= value <= 8 else 1


def reset_orientation(block: bytes | None) -> bytes | None:
    """``block`` with its orientation tag set to 1 (unchanged when it has none)."""
    if not block:
        return block
    off = _orientation_offset(block)
    if off is None:
        return block
    order = "<" if block[len(EXIF_HEADER) if block.startswith(EXIF_HEADER) else 0 :][:2] == b"II" else ">"
    return block[:off] + struct.pack(order + "H", 1) + block[off + 2 :]


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored ``(H, W, ...)`` array into its displayed orientation (EXIF values 1-8).

    Same result as Pillow's ``ImageOps.exif_transpose``: 2 mirror, 3 rotate 180, 4 flip,
    5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
    """
    if orientation == 2:
        out = array[:, ::-1]
    elif orientation == 3:
        out = array[::-1, ::-1]
    elif orientation == 4:
        out = array[::-1]
    elif orientation == 5:
        out = np.swapaxes(array, 0, 1)
    elif orientation == 6:
        out = np.swapaxes(array, 0, 1)[:, ::-1]
    elif orientation == 7:
        out = np.swapaxes(array, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = np.swapaxes(array, 0, 1)[::-1]
    else:
        return array
    return np.ascontiguousarray(out)
