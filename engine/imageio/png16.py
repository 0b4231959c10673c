"""A small, exact 16-bit PNG encoder (Pillow cannot write 16-bit colour; OpenCV drops metadata).

Writes gray, gray+alpha, RGB and RGBA at 16 bits per sample with the "Up" filter, plus
optional ``iCCP`` (ICC profile) and ``eXIf`` chunks before the image data.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from engine.imageio.exif import EXIF_HEADER

__all__ = ["encode_png16", "png_chunk"]

_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # samples per pixel -> PNG colour type


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def encode_png16(samples: np.ndarray, *, icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode ``(H, W, S)`` uint16 samples (S = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) as a PNG file."""
    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in _COLOR_TYPE:
        raise ValueError(f"encode_png16 needs (H, W, 1..4) uint16 samples, got {samples.dtype} {samples.shape}")
    height, width, spp = samples.shape
    rows = np.ascontiguousarray(samples.astype(">u2")).view(np.uint8).reshape(height, width * spp * 2)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # "Up" filter: modular byte difference with the row above
    raw = np.empty((height, 1 + rows.shape[1]), np.uint8)
    raw[:, 0] = 2
    raw[0, 0] = 0  # first row: no filter (Up on row 0 equals none; "none" is clearer)
    raw[:, 1:] = filtered
    out = [b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, _COLOR_TYPE[spp], 0, 0, 0))]
    if icc_profile:
        out.append(png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        body = exif[len(EXIF_HEADER) :] if exif.startswith(EXIF_HEADER) else exif
        out.append(png_chunk(b"eXIf", body))
    out.append(png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)))
    out.append(png_chunk(b"IEND", b""))
    return b"".join(out)
