"""Cheap header probes: :func:`image_info` reads sizes, mode and depth without decoding pixels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.core.files import open_regular
from engine.imageio.decoders import TIFF_ORIENTATION_TAG
from engine.imageio.exif import exif_orientation, normalise_exif
from engine.imageio.failures import decoder_errors, pillow_errors, pillow_image, read_failure
from engine.imageio.limits import max_pixels_limit
from engine.imageio.sniff import png_ihdr, sniff_format, unknown_format

__all__ = ["ImageInfo", "image_info"]


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`image_info` learns from the header, without decoding pixels.

    ``width``/``height`` are as displayed, i.e. after the EXIF orientation (what
    :func:`read_image` returns); ``channels`` excludes alpha; ``bit_depth`` is 8, 16 or 32.
    """

    path: Path
    format: str
    width: int
    height: int
    channels: int
    has_alpha: bool
    bit_depth: int
    mode: str
    frames: int = 1
    orientation: int = 1

    @property
    def megapixels(self) -> float:
        """``width * height / 1e6``."""
        return self.width * self.height / 1e6


def image_info(path: str | Path) -> ImageInfo:
    """Header facts about an image file without decoding its pixels (cheap: reads the header only).

    Raises :class:`~engine.core.errors.UnsupportedImageError` like :func:`read_image`.
    """
    p = Path(os.fspath(path))
    try:
        with open_regular(p) as fh:
            head = fh.read(64 * 1024)
    except FileNotFoundError:
        raise read_failure(p, "the file does not exist; check the path") from None
    except PermissionError:
        raise read_failure(p, "permission denied; check the file's permissions (chmod u+r)") from None
    except OSError as exc:
        raise read_failure(p, f"{exc.strerror or exc}") from None
    if not head:
        raise read_failure(p, "the file is empty (0 bytes); it is not an image")
    fmt = sniff_format(head[:16])
    if fmt is None:
        raise unknown_format(p, head)
    if fmt == "TIFF":
        return _tiff_info(p)
    ihdr = png_ihdr(head) if fmt == "PNG" else None
    if ihdr is not None and ihdr[0] * ihdr[1] > max_pixels_limit():  # describe a bomb without opening it
        channels, alpha = (1 if ihdr[3] in (0, 4) else 3), ihdr[3] in (4, 6)
        return ImageInfo(p, fmt, ihdr[0], ihdr[1], channels, alpha, 16 if ihdr[2] == 16 else 8, "?", 1, 1)
    limit = max_pixels_limit()
    Image = pillow_image(limit)
    with pillow_errors(p, fmt, limit):
        with Image.open(p, formats=[fmt]) as im:
            width, height = im.size
            mode = im.mode
            frames = int(getattr(im, "n_frames", 1) or 1)
            raw = im.info.get("exif")
            orientation = exif_orientation(normalise_exif(raw) if isinstance(raw, bytes) else None)
            transparency = "transparency" in im.info
    channels, has_alpha, depth = _mode_facts(mode, transparency)
    if fmt == "PNG" and (ihdr := png_ihdr(head)) is not None:
        depth = 16 if ihdr[2] == 16 else 8
        has_alpha = has_alpha or ihdr[3] in (4, 6)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(p, fmt, width, height, channels, has_alpha, depth, mode, frames, orientation)


def _mode_facts(mode: str, transparency: bool) -> tuple[int, bool, int]:
    """``(channels, has_alpha, bit_depth)`` of what :func:`read_image` returns for a Pillow mode."""
    if mode in ("1", "L"):
        return 1, transparency, 8
    if mode in ("LA", "La"):
        return 1, True, 8
    if mode.startswith("I;16") or mode == "I":
        return 1, False, 16
    if mode == "F":
        return 1, False, 32
    if mode in ("P", "RGB"):
        return 3, transparency, 8
    if mode in ("PA", "RGBA", "RGBa"):
        return 3, True, 8
    return 3, False, 8


def _tiff_info(p: Path) -> ImageInfo:
    import tifffile

    with decoder_errors(p, "TIFF"):
        with tifffile.TiffFile(p) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            bits, sample_format = int(page.bitspersample), int(page.sampleformat)
            photometric, samples = int(page.photometric), int(page.samplesperpixel)
            extras = len(page.extrasamples)
            frames = len(tif.pages)
            o_tag = page.tags.get(TIFF_ORIENTATION_TAG)
            orientation = int(o_tag.value) if o_tag is not None and isinstance(o_tag.value, int) else 1
    orientation = orientation if 1 <= orientation <= 8 else 1
    if width <= 0 or height <= 0:
        raise read_failure(p, f"the TIFF is damaged: its header gives an empty size {width}x{height}")
    depth = 32 if sample_format == 3 else (16 if bits > 8 else 8)
    channels = 1 if photometric in (0, 1) else 3
    has_alpha = extras > 0 and samples > channels
    mode = {0: "L", 1: "L", 2: "RGB", 3: "P", 5: "CMYK", 6: "YCbCr"}.get(photometric, f"photometric-{photometric}")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(p, "TIFF", width, height, channels, has_alpha, depth, mode, frames, orientation)
