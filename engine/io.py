"""Image input/output for Clarity Studio: read, write, masks and cheap header probes.

Public names (the import path others rely on is ``engine.io``):

- :class:`ImageDocument`, :data:`KEEP` -- the decoded image with alpha and metadata kept aside;
- :func:`read_image`, :func:`write_image`, :func:`write_image_report`, :func:`read_mask`,
  :func:`image_info` (:class:`ImageInfo`), :class:`WriteReport`;
- :data:`DEFAULT_MAX_PIXELS`, :func:`max_pixels_limit`, :data:`SUPPORTED_EXTENSIONS`.

The implementation lives in the :mod:`engine.imageio` package (one module per job).
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
