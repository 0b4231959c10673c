"""Writing images: format/bit-depth choice, quantisation, metadata, atomic output.

Rules (documented for users in the module docstring of :mod:`engine.io`):

- the format comes from ``format`` or else the file extension (:data:`SUPPORTED_EXTENSIONS`);
- bit depth: ``bit_depth`` if given, else the document's, capped to what the format holds
  (PNG 8/16, TIFF 8/16/32-float, JPEG/WebP/BMP 8);
- quantisation: NaN -> 0, clip to [0, 1], then round half up (``floor(x * max + 0.5)``);
- alpha is written back (gray+alpha stays gray+alpha where the format has it, else RGBA;
  WebP keeps the colour under fully transparent pixels); JPEG and BMP (whose 32-bit alpha most
  readers ignore) get the image flattened onto white and a warning is returned;
- ICC profile and EXIF are kept for PNG, JPEG, TIFF (EXIF only at 8 bits) and WebP; a profile
  whose colour space does not match the output (e.g. RGB profile on a gray image) is dropped
  with a warning; BMP holds neither;
- the file is written to a temporary sibling and renamed into place (:mod:`engine.core.atomic`).
"""

from __future__ import annotations

import io
import os
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.core.atomic import atomic_write_bytes
from engine.core.errors import ImageWriteError, ParameterError
from engine.imageio.document import ImageDocument
from engine.imageio.png16 import encode_png16

__all__ = [
    "FORMAT_BIT_DEPTHS",
    "SUPPORTED_EXTENSIONS",
    "ImageWriteWarning",
    "WriteReport",
    "encode_image",
    "format_for_path",
    "quantize",
    "write_image",
    "write_image_report",
]

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})
"""File extensions (lower case, with the dot) that :func:`write_image` and the file dialogs accept."""

_EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP"}
_ALIASES = {"PNG": "PNG", "JPEG": "JPEG", "JPG": "JPEG", "TIFF": "TIFF", "TIF": "TIFF", "WEBP": "WEBP", "BMP": "BMP"}

FORMAT_BIT_DEPTHS: dict[str, tuple[int, ...]] = {
    "PNG": (8, 16),
    "TIFF": (8, 16, 32),
    "JPEG": (8,),
    "WEBP": (8,),
    "BMP": (8,),
}
"""Bits per channel each output format can store (32 = floating point)."""


class ImageWriteWarning(UserWarning):
    """Emitted by :func:`write_image` when the output cannot hold everything (e.g. alpha in JPEG)."""


@dataclass(frozen=True)
class WriteReport:
    """What :func:`write_image_report` wrote: final path, format, bit depth and any warnings."""

    path: Path
    format: str
    bit_depth: int
    warnings: tuple[str, ...] = field(default_factory=tuple)


def format_for_path(path: str | Path, format: str | None = None) -> str:
    """The output format ("PNG", "JPEG"...) from ``format`` or else ``path``'s extension."""
    if format is not None:
        fmt = _ALIASES.get(format.strip().upper().lstrip("."))
        if fmt is None:
            raise ImageWriteError(f"cannot write format '{format}'; choose one of PNG, JPEG, TIFF, WEBP, BMP")
        return fmt
    ext = Path(path).suffix.lower()
    fmt = _EXT_FORMAT.get(ext)
    if fmt is None:
        raise ImageWriteError(
            f"cannot write '{path}': unknown extension '{ext or '(none)'}'; "
            f"use one of {', '.join(sorted(SUPPORTED_EXTENSIONS))}"
        )
    return fmt


def quantize(values: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float ``[0, 1]`` -> uint8 (8) or uint16 (16): NaN -> 0, clip, round half up (``floor(x * max + 0.5)``).

    Computed in float32, in place: exact for every value read from an 8/16-bit file (``k / max``).
    """
    top = {8: 255.0, 16: 65535.0}[bit_depth]
    x = np.array(values, dtype=np.float32, copy=True)
    np.nan_to_num(x, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(x, 0.0, 1.0, out=x)
    x *= np.float32(top)
    x += np.float32(0.5)
    np.floor(x, out=x)
    return x.astype(np.uint8 if bit_depth == 8 else np.uint16)


def _choose_depth(fmt: str, doc: ImageDocument, bit_depth: int | None) -> int:
    allowed = FORMAT_BIT_DEPTHS[fmt]
    if bit_depth is None:
        fitting = [d for d in allowed if d <= doc.bit_depth]
        return max(fitting) if fitting else allowed[0]
    if bit_depth not in allowed:
        raise ParameterError(
            f"{fmt} cannot store {bit_depth} bits per channel (it stores {', '.join(map(str, allowed))}); "
            "choose another bit depth, or PNG/TIFF for 16 bits"
        )
    return bit_depth


def _icc_for(doc: ImageDocument, channels: int, warnings: list[str]) -> bytes | None:
    icc = doc.icc_profile
    if not icc:
        return None
    space = icc[16:20] if len(icc) >= 128 else b""
    wanted = b"GRAY" if channels == 1 else b"RGB "
    if space != wanted:
        warnings.append(
            f"the ICC profile (colour space {space.decode('latin-1').strip() or 'unknown'!r}) does not fit a "
            f"{'gray' if channels == 1 else 'colour'} image; it was not saved"
        )
        return None
    return icc


def _planes(doc: ImageDocument, fmt: str, warnings: list[str]) -> tuple[np.ndarray, str]:
    """Float ``(H, W, S)`` samples to encode and their layout ("L", "LA", "RGB", "RGBA")."""
    color = doc.pixels
    alpha = doc.alpha
    if alpha is not None and fmt in ("JPEG", "BMP"):
        a = np.clip(np.nan_to_num(alpha), 0.0, 1.0)[..., None]
        color = color * a + (1.0 - a)
        alpha = None
        warnings.append(
            f"{fmt} has no (reliable) transparency: the image was flattened onto white (save as PNG to keep alpha)"
        )
    if alpha is not None and doc.channels == 1 and fmt == "WEBP":
        color = np.repeat(color, 3, axis=2)  # these formats have no gray+alpha: store RGBA
    if fmt == "WEBP" and color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)  # WebP is always colour
    if alpha is None:
        return color, ("L" if color.shape[2] == 1 else "RGB")
    samples = np.concatenate([color, alpha[..., None]], axis=2)
    return samples, ("LA" if color.shape[2] == 1 else "RGBA")


def encode_image(
    doc: ImageDocument, fmt: str, bit_depth: int, quality: int = 95
) -> tuple[bytes, tuple[str, ...]]:
    """Encode ``doc`` as file bytes of format ``fmt`` at ``bit_depth``; also returns warnings."""
    warnings: list[str] = []
    samples, layout = _planes(doc, fmt, warnings)
    channels = 1 if layout in ("L", "LA") else 3
    icc = _icc_for(doc, channels, warnings) if fmt != "BMP" else None
    exif = doc.exif if fmt != "BMP" else None
    if fmt == "PNG" and bit_depth == 16:
        return encode_png16(quantize(samples, 16), icc_profile=icc, exif=exif), tuple(warnings)
    if fmt == "TIFF" and bit_depth in (16, 32):
        return _encode_tiff_highbit(samples, layout, bit_depth, icc, exif, warnings), tuple(warnings)
    from PIL import Image

    q = quantize(samples, 8)
    im = Image.fromarray(q[..., 0] if layout == "L" else q, layout)
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    if fmt == "JPEG":
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        options.update(quality=quality, lossless=quality >= 100, method=4, exact=True)
    elif fmt == "TIFF":
        options["compression"] = "tiff_deflate"
    elif fmt == "PNG":
        options["compress_level"] = 6
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue(), tuple(warnings)


def _encode_tiff_highbit(
    samples: np.ndarray, layout: str, bit_depth: int, icc: bytes | None, exif: bytes | None, warnings: list[str]
) -> bytes:
    import tifffile

    if bit_depth == 16:
        data = quantize(samples, 16)
    else:
        data = np.clip(np.nan_to_num(samples.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    if exif:
        warnings.append(f"EXIF is not written to {bit_depth}-bit TIFF files; save 8-bit TIFF or PNG to keep it")
    photometric = "minisblack" if layout in ("L", "LA") else "rgb"
    if layout == "L":
        data = data[..., 0]
    buf = io.BytesIO()
    tifffile.imwrite(
        buf,
        data,
        photometric=photometric,
        planarconfig="contig",
        extrasamples=["unassalpha"] if layout in ("LA", "RGBA") else None,
        iccprofile=icc,
        # 16-bit: zlib + horizontal differencing (a 12 MP photo: 0.8 MB, 1.2 s). Float: uncompressed, since
        # zlib without the floating-point predictor (which needs imagecodecs) took 16 s to save only half.
        compression="zlib" if bit_depth == 16 else None,
        predictor=bit_depth == 16,
        metadata=None,
    )
    return buf.getvalue()


def write_image_report(
    path: str | Path,
    doc: ImageDocument,
    *,
    format: str | None = None,
    bit_depth: int | None = None,
    quality: int = 95,
    overwrite: bool = True,
) -> WriteReport:
    """Like :func:`write_image` but returns a :class:`WriteReport` (warnings included) instead of warning."""
    p = Path(os.fspath(path))
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ParameterError(f"quality {quality!r} must be a whole number from 1 to 100")
    fmt = format_for_path(p, format)
    depth = _choose_depth(fmt, doc, bit_depth)
    data, warnings = encode_image(doc, fmt, depth, quality)
    atomic_write_bytes(p, data, overwrite=overwrite)
    return WriteReport(p, fmt, depth, warnings)


def write_image(
    path: str | Path,
    doc: ImageDocument,
    *,
    format: str | None = None,
    bit_depth: int | None = None,
    quality: int = 95,
    overwrite: bool = True,
) -> Path:
    """Write ``doc`` to ``path`` atomically and return the path.

    ``format`` defaults to the extension's; ``bit_depth`` to the document's where the format
    allows (16-bit in gives 16-bit PNG/TIFF out; JPEG, WebP and BMP are 8-bit); ``quality``
    (1-100) applies to JPEG and WebP (WebP at 100 is lossless). Anything the format cannot hold
    (alpha in JPEG, a mismatched ICC profile...) is reported as an :class:`ImageWriteWarning`.

    Raises :class:`~engine.core.errors.ImageWriteError` (unknown extension, existing file with
    ``overwrite=False``, permission denied, disk full: the old file is then untouched and no
    temporary file remains) and :class:`~engine.core.errors.ParameterError` (bad bit depth or quality).
    """
    report = write_image_report(path, doc, format=format, bit_depth=bit_depth, quality=quality, overwrite=overwrite)
    for message in report.warnings:
        _warnings.warn(f"{report.path}: {message}", ImageWriteWarning, stacklevel=2)
    return report.path
