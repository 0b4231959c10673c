"""Per-format pixel decoders; each returns a :class:`Decoded` (raw samples + metadata, not yet oriented).

- Pillow for 8-bit images of every kind (gray, RGB, RGBA, LA, palette, 1-bit, CMYK, YCbCr)
  and for the metadata (ICC profile, EXIF);
- OpenCV (``cv2.imdecode``, ``IMREAD_UNCHANGED``) for 16-bit PNG, because Pillow truncates
  16-bit colour to 8 bits (the chunk structure is validated first: see :func:`check_png_chunks`);
- tifffile for 16-bit and floating-point TIFF, with OpenCV as a fallback for compressions
  tifffile cannot decode without ``imagecodecs`` (LZW...).

Each decoder checks the pixel limit from the header before decoding pixels.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.imageio.exif import exif_orientation, normalise_exif
from engine.imageio.failures import decoder_errors, pillow_errors, pillow_image, read_failure
from engine.imageio.limits import check_pixel_count
from engine.imageio.sniff import check_png_chunks, png_ihdr

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image as PILImage
    from tifffile import TiffPage

# tifffile logs every oddity of a damaged file; we report one clear error instead. A NullHandler
# only stops Python's last-resort printing to stderr: an application's own logging still sees them.
logging.getLogger("tifffile").addHandler(logging.NullHandler())

__all__ = ["Decoded", "decode_pillow", "decode_png16", "decode_tiff_highbit", "tiff_needs_highbit"]

TIFF_ICC_TAG = 34675
TIFF_ORIENTATION_TAG = 274
# Descriptive TIFF tags worth carrying into the EXIF block of a saved copy (no layout tags).
_TIFF_EXIF_TAGS = (270, 271, 272, 305, 306, 315, 33432, 0x8769, 0x8825)


@dataclass
class Decoded:
    """What a format decoder hands back before orientation and normalisation."""

    color: np.ndarray  # (H, W, C) any numeric dtype, C in {1, 3}
    alpha: np.ndarray | None  # (H, W) same scale as color, or None
    scale: float  # divide by this to get [0, 1] (1.0 for float data)
    bit_depth: int
    fmt: str
    icc: bytes | None = None
    exif: bytes | None = None
    orientation: int = 1
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- Pillow (8-bit, metadata)


def _pil_metadata(im: PILImage, fmt: str, source: object, warnings: list[str]) -> tuple[bytes | None, bytes | None, int]:
    """ICC profile, EXIF block (orientation not yet reset) and orientation of an opened Pillow image."""
    icc = im.info.get("icc_profile") or None
    if icc is not None and not isinstance(icc, bytes):
        icc = None
    exif: bytes | None = None
    orientation = 1
    if fmt == "TIFF":
        tags = getattr(im, "tag_v2", {})
        value = tags.get(TIFF_ORIENTATION_TAG, 1)
        orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
        try:
            full = im.getexif()
            keep = type(full)()
            for tag in _TIFF_EXIF_TAGS:
                if tag in full:
                    keep[tag] = full.get_ifd(tag) if tag in (0x8769, 0x8825) else full[tag]
            exif = keep.tobytes() if len(keep) else None
        except Exception:
            warnings.append("the TIFF's descriptive tags could not be read; they will not be saved")
            exif = None
    else:
        raw = im.info.get("exif")
        exif = normalise_exif(raw) if isinstance(raw, bytes) else None
        orientation = exif_orientation(exif)
    return icc, exif, orientation


def _cmyk_to_rgb(im: PILImage, icc: bytes | None, warnings: list[str]) -> PILImage:
    """Convert a CMYK Pillow image to RGB, through its ICC profile when it has one."""
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if out is not None:
                warnings.append("CMYK image converted to sRGB with its embedded ICC profile")
                return out
        except Exception:
            pass
    warnings.append("CMYK image converted to RGB without colour management (no usable ICC profile)")
    return im.convert("RGB")


def _dropped_channels(samples: int, used: int) -> str:
    extra = samples - used
    return f"TIFF with {samples} channels: {extra} extra channel{'s' if extra > 1 else ''} dropped (only {used} loaded)"


def decode_pillow(data: bytes, fmt: str, limit: int, source: object) -> Decoded:
    Image = pillow_image(limit)
    with pillow_errors(source, fmt, limit):
        im = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = im.size
    check_pixel_count(width, height, limit, source)
    warnings: list[str] = []
    with pillow_errors(source, fmt, limit):
        frames = int(getattr(im, "n_frames", 1) or 1)
        if frames > 1:
            im.seek(0)
            kind = "multi-page" if fmt == "TIFF" else "animated"
            warnings.append(f"{kind} {fmt} with {frames} frames: only the first frame was loaded")
        im.load()
        icc, exif, orientation = _pil_metadata(im, fmt, source, warnings)
        mode = im.mode
        if fmt == "TIFF":
            samples = getattr(im, "tag_v2", {}).get(277)  # SamplesPerPixel
            if isinstance(samples, int) and samples > len(im.getbands()):
                warnings.append(_dropped_channels(samples, len(im.getbands())))
        bit_depth = 8
        if mode == "CMYK":
            im = _cmyk_to_rgb(im, icc, warnings)
            icc = None
        elif mode in ("P", "PA"):
            im = im.convert("RGBA" if (mode == "PA" or "transparency" in im.info) else "RGB")
        elif mode in ("L", "RGB") and "transparency" in im.info:
            im = im.convert("LA" if mode == "L" else "RGBA")
        elif mode == "1":
            im = im.convert("L")
        elif mode == "La":
            im = im.convert("LA")
        elif mode == "RGBa":
            im = im.convert("RGBA")
        elif mode in ("RGBX", "YCbCr"):
            im = im.convert("RGB")
        elif mode == "LAB":
            from PIL import ImageCms

            im = ImageCms.profileToProfile(
                im, ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            warnings.append("Lab image converted to sRGB")
        arr = np.asarray(im)
        mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return Decoded(arr.astype(np.uint16)[..., None], None, 65535.0, 16, fmt, icc, exif, orientation, warnings)
    if mode == "I":
        clipped = np.clip(arr, 0, 65535).astype(np.uint16)
        return Decoded(clipped[..., None], None, 65535.0, 16, fmt, icc, exif, orientation, warnings)
    if mode == "F":
        return Decoded(arr[..., None], None, 1.0, 32, fmt, icc, exif, orientation, warnings)
    if mode == "L":
        return Decoded(arr[..., None], None, 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    if mode == "LA":
        return Decoded(arr[..., :1], arr[..., 1], 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    if mode == "RGB":
        return Decoded(arr, None, 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    if mode == "RGBA":
        return Decoded(arr[..., :3], arr[..., 3], 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    raise read_failure(source, f"pixel mode {mode} is not supported; convert the image to RGB or grayscale")


# --------------------------------------------------------------------------- OpenCV / tifffile (16-bit, float)


def _from_cv2(arr: np.ndarray, source: object) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an OpenCV array (gray, BGR or BGRA) into RGB/gray colour and alpha."""
    if arr.ndim == 2:
        return arr[..., None], None
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr, None
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr[..., ::-1], None
    if arr.ndim == 3 and arr.shape[2] == 4:
        return arr[..., 2::-1], arr[..., 3]
    raise read_failure(source, f"unexpected decoded shape {arr.shape}")


def _scale_for(dtype: np.dtype, source: object) -> tuple[float, int]:
    if dtype == np.uint8 or dtype == np.bool_:
        return (1.0 if dtype == np.bool_ else 255.0), 8
    if dtype == np.uint16:
        return 65535.0, 16
    if dtype.kind == "f":
        return 1.0, 32
    if dtype == np.uint32:
        return 4294967295.0, 16
    raise read_failure(source, f"samples of type {dtype} are not supported; save it as 8/16-bit integer or float")


def _cv2_decode(data: bytes, fmt: str, source: object) -> np.ndarray:
    import cv2

    with decoder_errors(source, fmt):
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise read_failure(source, f"the file is damaged or not a valid {fmt} image (OpenCV could not decode it)")
    return arr


def decode_png16(data: bytes, limit: int, source: object) -> Decoded:
    Image = pillow_image(limit)
    with pillow_errors(source, "PNG", limit):
        im = Image.open(io.BytesIO(data), formats=["PNG"])
        width, height = im.size
    check_pixel_count(width, height, limit, source)
    warnings: list[str] = []
    with decoder_errors(source, "PNG"):
        icc, exif, orientation = _pil_metadata(im, "PNG", source, warnings)
    check_png_chunks(data, source)
    arr = _cv2_decode(data, "PNG", source)
    if arr.shape[:2] != (height, width):
        raise read_failure(source, f"decoded size {arr.shape[1]}x{arr.shape[0]} differs from the header's {width}x{height}")
    ihdr = png_ihdr(data)
    color, alpha = _from_cv2(arr, source)
    if ihdr is not None and ihdr[3] in (0, 4) and color.shape[2] == 3:
        color = color[..., :1]  # gray(+alpha) PNG expanded to BGR(A) by OpenCV
    scale, depth = _scale_for(arr.dtype, source)
    return Decoded(color, alpha, scale, depth, "PNG", icc, exif, orientation, warnings)


def tiff_needs_highbit(data: bytes, limit: int, source: object) -> bool:
    """Check the first page's size against the limit; True when it holds > 8-bit or float samples."""
    import tifffile

    with decoder_errors(source, "TIFF"):
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            bits = int(page.bitspersample)
            sample_format = int(page.sampleformat)
    check_pixel_count(width, height, limit, source)
    return bits > 8 or sample_format == 3


def _check_segments(page: TiffPage, source: object) -> None:
    """Refuse a page whose strip/tile count does not match its size.

    A damaged header (e.g. 3 strips where the size needs 5.7 million) makes tifffile loop in
    Python over every missing segment -- 27 s for a 1 kB file, found by ``clarity fuzz``.
    """
    height, width = int(page.imagelength), int(page.imagewidth)
    planes = int(page.samplesperpixel) if int(page.planarconfig) == 2 else 1
    if page.is_tiled:
        tw, tl = int(page.tilewidth), int(page.tilelength)
        if tw <= 0 or tl <= 0:
            raise read_failure(source, f"the TIFF is damaged: tile size {tw}x{tl}")
        expected = -(-width // tw) * -(-height // tl) * planes
    else:
        rows = int(page.rowsperstrip) or height
        expected = -(-height // max(1, min(rows, height))) * planes
    found = len(page.dataoffsets)
    if found != expected or len(page.databytecounts) != expected:
        kind = "tiles" if page.is_tiled else "strips"
        raise read_failure(
            source, f"the TIFF is damaged: its size needs {expected} data {kind} but it lists {found}"
        )


def decode_tiff_highbit(data: bytes, source: object) -> Decoded:
    import tifffile

    warnings: list[str] = []
    with decoder_errors(source, "TIFF"):
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            if len(tif.pages) > 1:
                warnings.append(f"multi-page TIFF with {len(tif.pages)} pages: only the first page was loaded")
            icc_tag = page.tags.get(TIFF_ICC_TAG)
            icc = bytes(icc_tag.value) if icc_tag is not None and isinstance(icc_tag.value, bytes) else None
            o_tag = page.tags.get(TIFF_ORIENTATION_TAG)
            orientation = int(o_tag.value) if o_tag is not None and isinstance(o_tag.value, int) else 1
            photometric = int(page.photometric)
            extrasamples = tuple(int(e) for e in page.extrasamples)
            axes = page.axes
            size = (int(page.imagelength), int(page.imagewidth))
            _check_segments(page, source)
            try:
                arr = page.asarray()
            except (ValueError, NotImplementedError, KeyError) as exc:
                if "imagecodecs" not in str(exc):
                    raise
                arr = None
    orientation = orientation if 1 <= orientation <= 8 else 1
    if arr is None:  # a compression tifffile cannot decode on its own: OpenCV can
        decoded = _cv2_decode(data, "TIFF", source)
        if decoded.shape[:2] != size:
            raise read_failure(source, f"the TIFF is damaged: decoded {decoded.shape[:2]} but the header says {size}")
        color, alpha = _from_cv2(decoded, source)
        scale, depth = _scale_for(color.dtype, source)
        return Decoded(color, alpha, scale, depth, "TIFF", icc, None, orientation, warnings)
    arr = _tiff_to_yxs(arr, axes, source)
    scale, depth = _scale_for(arr.dtype, source)
    if photometric == 0:  # MINISWHITE: 0 is white
        if arr.dtype.kind == "f":
            arr = 1.0 - arr
        else:
            arr = np.iinfo(arr.dtype).max - arr
    if photometric in (0, 1):
        color, extra = arr[..., :1], arr[..., 1:]
    elif photometric == 2 and arr.shape[2] >= 3:
        color, extra = arr[..., :3], arr[..., 3:]
    else:
        raise read_failure(source, f"TIFF photometric interpretation {photometric} with {depth}-bit samples is not supported")
    alpha = extra[..., 0] if extra.shape[2] >= 1 and extrasamples else None
    used = color.shape[2] + (alpha is not None)
    if arr.shape[2] > used:
        warnings.append(_dropped_channels(arr.shape[2], used))
    if alpha is not None and extrasamples[0] == 1:  # associated (premultiplied) alpha
        a = alpha.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            color = np.where(a[..., None] > 0, color.astype(np.float64) * (scale / a[..., None]), 0.0)
        color = np.clip(color, 0, scale)
    return Decoded(color, alpha, scale, depth, "TIFF", icc, None, orientation, warnings)


def _tiff_to_yxs(arr: np.ndarray, axes: str, source: object) -> np.ndarray:
    """Reorder a tifffile page array to ``(Y, X, S)``."""
    if axes == "YX" and arr.ndim == 2:
        return arr[..., None]
    if axes == "YXS" and arr.ndim == 3:
        return arr
    if axes == "SYX" and arr.ndim == 3:
        return np.moveaxis(arr, 0, -1)
    raise read_failure(source, f"TIFF layout {axes} {arr.shape} is not supported; save it as a plain 2-D image")
