"""Image input/output for Clarity Studio: read, write, masks and cheap header probes.

Public names (import them from ``engine.io``; the code lives in :mod:`engine.imageio`):

- :class:`ImageDocument` (+ :data:`KEEP`): pixels ``(H, W, C)`` float32 in [0, 1], C = 1 or 3,
  alpha kept aside, bit depth, ICC profile, EXIF (orientation reset to 1), format, warnings;
- :func:`read_image`, :func:`decode_image` (same, from bytes), :func:`read_mask`, :func:`image_info`;
- :func:`write_image` (returns the path, emits :class:`ImageWriteWarning`) and
  :func:`write_image_report` (returns a :class:`WriteReport` with the warnings instead);
- :data:`DEFAULT_MAX_PIXELS` (``$CLARITY_MAX_PIXELS`` overrides), :func:`max_pixels_limit`,
  :data:`SUPPORTED_EXTENSIONS`.

Behaviour users can rely on:

- Reading: PNG, JPEG, TIFF, WebP, BMP (and GIF), found by content; 8/16-bit and 32-bit float
  TIFF; gray, RGB, RGBA, LA, palette (transparency -> alpha), 1-bit, CMYK (-> sRGB through its
  ICC profile when present). 16-bit colour is decoded without loss (OpenCV/tifffile, not
  Pillow). EXIF orientation is applied. Animated files give their first frame and a warning in
  ``ImageDocument.warnings``. A fully opaque alpha channel is dropped (``alpha is None``).
- The pixel limit is checked from the header before decoding; :class:`~engine.core.errors.ImageTooLargeError`
  says how to raise it. Every unreadable input raises :class:`~engine.core.errors.UnsupportedImageError`
  with one line naming the file -- never a raw decoder exception.
- Writing: 16-bit in gives 16-bit out for PNG/TIFF (32-bit float for TIFF); JPEG, WebP, BMP are
  8-bit. Values are clipped to [0, 1] then rounded half up. Alpha is written back (LA stays LA
  where the format has it). **JPEG and BMP do not keep alpha: the image is flattened onto white
  and an ImageWriteWarning is emitted.** ICC and EXIF are kept for PNG, JPEG, TIFF (EXIF at 8 bits
  only) and WebP. Writes go to a temporary file in the same folder, renamed into place
  (:mod:`engine.core.atomic`): a failure leaves the old file untouched and no temporary behind.
"""

from __future__ import annotations

from engine.imageio.document import KEEP, ImageDocument
from engine.imageio.limits import DEFAULT_MAX_PIXELS, max_pixels_limit
from engine.imageio.reader import ImageInfo, decode_image, image_info, read_image, read_mask
from engine.imageio.writer import (
    SUPPORTED_EXTENSIONS,
    ImageWriteWarning,
    WriteReport,
    write_image,
    write_image_report,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "KEEP",
    "SUPPORTED_EXTENSIONS",
    "ImageDocument",
    "ImageInfo",
    "ImageWriteWarning",
    "WriteReport",
    "decode_image",
    "image_info",
    "max_pixels_limit",
    "read_image",
    "read_mask",
    "write_image",
    "write_image_report",
]
