"""Reading images: format sniffing, the pixel limit before decoding, and per-format decoders.

Decoders used (each chosen so that no precision is lost):

- Pillow for 8-bit images of every kind (gray, RGB, RGBA, LA, palette, 1-bit, CMYK, YCbCr)
  and for the metadata (ICC profile, EXIF);
- OpenCV (``cv2.imdecode``, ``IMREAD_UNCHANGED``) for 16-bit PNG, because Pillow truncates
  16-bit colour to 8 bits;
- tifffile for 16-bit and floating-point TIFF, with OpenCV as a fallback for compressions
  tifffile cannot decode without ``imagecodecs`` (LZW...).

Any failure inside a third-party decoder becomes an :class:`UnsupportedImageError` whose
one-line message names the file; the pixel limit is checked from the header first.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import ClarityError, ImageTooLargeError, ParameterError, UnsupportedImageError
from engine.imageio.document import ImageDocument
from engine.imageio.exif import apply_orientation, exif_orientation, normalise_exif, reset_orientation
from engine.imageio.limits import ENV_MAX_PIXELS, check_pixel_count, max_pixels_limit

__all__ = ["ImageInfo", "decode_image", "image_info", "read_image", "read_mask", "sniff_format"]

READABLE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF")
"""Formats :func:`read_image` decodes (GIF only for reading: its first frame)."""

_TIFF_ICC_TAG = 34675
_TIFF_ORIENTATION_TAG = 274
# Descriptive TIFF tags worth carrying into the EXIF block of a saved copy (no layout tags).
_TIFF_EXIF_TAGS = (270, 271, 272, 305, 306, 315, 33432, 0x8769, 0x8825)


def _pillow(limit: int):
    """Pillow's ``Image``, its own bomb threshold raised (never lowered, never disabled) to cover ``limit``.

    Pillow refuses images over ``2 * Image.MAX_IMAGE_PIXELS`` *inside* ``Image.open`` (e.g. a GIF
    frame larger than its screen makes Pillow allocate the enlarged canvas before we could
    look), so its check must stay on; :func:`check_pixel_count` then enforces ``limit`` exactly.
    """
    from PIL import Image

    current = Image.MAX_IMAGE_PIXELS
    if current is not None and 2 * current < limit:
        Image.MAX_IMAGE_PIXELS = (limit + 1) // 2
    return Image


def _too_large_from_pillow(exc: Exception, limit: int, source: object) -> ImageTooLargeError:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    claimed = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
    return ImageTooLargeError(
        f"'{source}' claims {claimed}, more than the limit of {limit / 1e6:g} megapixels; if you trust the file, "
        f"raise the limit with the environment variable {ENV_MAX_PIXELS} (e.g. {ENV_MAX_PIXELS}={limit * 2})"
    )


@contextmanager
def _pillow_open_errors(source: object, what: str, limit: int) -> Iterator[None]:
    """Like :func:`_decoder_errors`, plus Pillow's own bomb refusal becomes ``ImageTooLargeError``."""
    from PIL import Image

    with _decoder_errors(source, what):
        try:
            yield
        except Image.DecompressionBombError as exc:
            raise _too_large_from_pillow(exc, limit, source) from None


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


@dataclass
class _Decoded:
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


# --------------------------------------------------------------------------- helpers


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def _fail(source: object, reason: str) -> UnsupportedImageError:
    return UnsupportedImageError(f"cannot read '{source}': {_one_line(reason)}")


@contextmanager
def _decoder_errors(source: object, what: str) -> Iterator[None]:
    """Turn any exception a third-party decoder raises on bad data into ``UnsupportedImageError``."""
    try:
        yield
    except ClarityError:
        raise
    except MemoryError:
        raise _fail(source, f"not enough memory to decode this {what} image") from None
    except Exception as exc:  # decoders raise anything on malformed input (OSError, SyntaxError, struct.error...)
        raise _fail(source, f"the file is damaged or not a valid {what} image ({type(exc).__name__}: {exc})") from exc


def sniff_format(head: bytes) -> str | None:
    """The format named by a file's first bytes ("PNG", "JPEG", ...), or ``None``."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM":
        return "BMP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "the file does not exist; check the path") from None
    except IsADirectoryError:
        raise _fail(path, "it is a folder, not an image file") from None
    except PermissionError:
        raise _fail(path, "permission denied; check the file's permissions (chmod u+r)") from None
    except OSError as exc:
        raise _fail(path, f"{exc.strerror or exc}") from None
    if not data:
        raise _fail(path, "the file is empty (0 bytes); it is not an image")
    return data


def _unknown_format(source: object, head: bytes) -> UnsupportedImageError:
    if head[:64].isascii() and all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64]):
        kind = "it contains text, not image data"
    else:
        kind = f"unrecognised content (first bytes {head[:8].hex(' ')})"
    return _fail(source, f"{kind}; supported formats are PNG, JPEG, TIFF, WebP, BMP and GIF")


def _png_ihdr(data: bytes) -> tuple[int, int, int, int] | None:
    """``(width, height, bit depth, colour type)`` from a PNG's IHDR chunk, or ``None``."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    return (
        int.from_bytes(data[16:20], "big"),
        int.from_bytes(data[20:24], "big"),
        data[24],
        data[25],
    )


def _check_png_chunks(data: bytes, source: object) -> None:
    """Refuse a PNG whose chunk lengths run past the end of the file.

    OpenCV's PNG reader trusts chunk lengths and allocates what they claim (a 4 GB IDAT length
    in a 1 kB file took 11 s and 4 GB of memory, found by ``clarity fuzz``), so the
    structure is walked here first.
    """
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF or pos + 12 + length > len(data):
            name = kind.decode("latin-1") if kind.isalpha() else kind.hex()
            raise _fail(
                source,
                f"the PNG is damaged or truncated: chunk '{name}' at byte {pos} claims {length} bytes "
                f"but only {max(0, len(data) - pos - 12)} remain",
            )
        if kind == b"IEND":
            return
        pos += 12 + length
    raise _fail(source, "the PNG is truncated: it ends before its IEND chunk")


def _quick_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """``(width, height)`` straight from the first header bytes of PNG, GIF and BMP, else ``None``.

    Lets the limit be checked before any decoder runs and report the exact size claimed.
    """
    if fmt == "PNG" and (ihdr := _png_ihdr(data)) is not None:
        return ihdr[0], ihdr[1]
    if fmt == "GIF" and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if fmt == "BMP" and len(data) >= 26 and int.from_bytes(data[14:18], "little") >= 40:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(
            int.from_bytes(data[22:26], "little", signed=True)
        )
    return None


# --------------------------------------------------------------------------- Pillow (8-bit, metadata)


def _pil_metadata(im, fmt: str, source: object, warnings: list[str]) -> tuple[bytes | None, bytes | None, int]:
    """ICC profile, EXIF block (orientation not yet reset) and orientation of an opened Pillow image."""
    icc = im.info.get("icc_profile") or None
    if icc is not None and not isinstance(icc, bytes):
        icc = None
    exif: bytes | None = None
    orientation = 1
    if fmt == "TIFF":
        tags = getattr(im, "tag_v2", {})
        value = tags.get(_TIFF_ORIENTATION_TAG, 1)
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


def _cmyk_to_rgb(im, icc: bytes | None, warnings: list[str]):
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


def _decode_pillow(data: bytes, fmt: str, limit: int, source: object) -> _Decoded:
    Image = _pillow(limit)
    with _pillow_open_errors(source, fmt, limit):
        im = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = im.size
    check_pixel_count(width, height, limit, source)
    warnings: list[str] = []
    with _pillow_open_errors(source, fmt, limit):
        frames = int(getattr(im, "n_frames", 1) or 1)
        if frames > 1:
            im.seek(0)
            kind = "multi-page" if fmt == "TIFF" else "animated"
            warnings.append(f"{kind} {fmt} with {frames} frames: only the first frame was loaded")
        im.load()
        icc, exif, orientation = _pil_metadata(im, fmt, source, warnings)
        mode = im.mode
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
        return _Decoded(arr.astype(np.uint16)[..., None], None, 65535.0, 16, fmt, icc, exif, orientation, warnings)
    if mode == "I":
        clipped = np.clip(arr, 0, 65535).astype(np.uint16)
        return _Decoded(clipped[..., None], None, 65535.0, 16, fmt, icc, exif, orientation, warnings)
    if mode == "F":
        return _Decoded(arr[..., None], None, 1.0, 32, fmt, icc, exif, orientation, warnings)
    if mode == "L":
        return _Decoded(arr[..., None], None, 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    if mode == "LA":
        return _Decoded(arr[..., :1], arr[..., 1], 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    if mode == "RGB":
        return _Decoded(arr, None, 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    if mode == "RGBA":
        return _Decoded(arr[..., :3], arr[..., 3], 255.0, bit_depth, fmt, icc, exif, orientation, warnings)
    raise _fail(source, f"pixel mode {mode} is not supported; convert the image to RGB or grayscale")


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
    raise _fail(source, f"unexpected decoded shape {arr.shape}")


def _scale_for(dtype: np.dtype, source: object) -> tuple[float, int]:
    if dtype == np.uint8 or dtype == np.bool_:
        return (1.0 if dtype == np.bool_ else 255.0), 8
    if dtype == np.uint16:
        return 65535.0, 16
    if dtype.kind == "f":
        return 1.0, 32
    if dtype == np.uint32:
        return 4294967295.0, 16
    raise _fail(source, f"samples of type {dtype} are not supported; save it as 8/16-bit integer or float")


def _cv2_decode(data: bytes, fmt: str, source: object) -> np.ndarray:
    import cv2

    with _decoder_errors(source, fmt):
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise _fail(source, f"the file is damaged or not a valid {fmt} image (OpenCV could not decode it)")
    return arr


def _decode_png16(data: bytes, limit: int, source: object) -> _Decoded:
    Image = _pillow(limit)
    with _pillow_open_errors(source, "PNG", limit):
        im = Image.open(io.BytesIO(data), formats=["PNG"])
        width, height = im.size
    check_pixel_count(width, height, limit, source)
    warnings: list[str] = []
    with _decoder_errors(source, "PNG"):
        icc, exif, orientation = _pil_metadata(im, "PNG", source, warnings)
    _check_png_chunks(data, source)
    arr = _cv2_decode(data, "PNG", source)
    if arr.shape[:2] != (height, width):
        raise _fail(source, f"decoded size {arr.shape[1]}x{arr.shape[0]} differs from the header's {width}x{height}")
    ihdr = _png_ihdr(data)
    color, alpha = _from_cv2(arr, source)
    if ihdr is not None and ihdr[3] in (0, 4) and color.shape[2] == 3:
        color = color[..., :1]  # gray(+alpha) PNG expanded to BGR(A) by OpenCV
    scale, depth = _scale_for(arr.dtype, source)
    return _Decoded(color, alpha, scale, depth, "PNG", icc, exif, orientation, warnings)


def _tiff_needs_highbit(data: bytes, limit: int, source: object) -> bool:
    """Check the first page's size against the limit; True when it holds > 8-bit or float samples."""
    import tifffile

    with _decoder_errors(source, "TIFF"):
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            bits = int(page.bitspersample)
            sample_format = int(page.sampleformat)
    check_pixel_count(width, height, limit, source)
    return bits > 8 or sample_format == 3


def _decode_tiff_highbit(data: bytes, source: object) -> _Decoded:
    import tifffile

    warnings: list[str] = []
    with _decoder_errors(source, "TIFF"):
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            if len(tif.pages) > 1:
                warnings.append(f"multi-page TIFF with {len(tif.pages)} pages: only the first page was loaded")
            icc_tag = page.tags.get(_TIFF_ICC_TAG)
            icc = bytes(icc_tag.value) if icc_tag is not None and isinstance(icc_tag.value, bytes) else None
            o_tag = page.tags.get(_TIFF_ORIENTATION_TAG)
            orientation = int(o_tag.value) if o_tag is not None and isinstance(o_tag.value, int) else 1
            photometric = int(page.photometric)
            extrasamples = tuple(int(e) for e in page.extrasamples)
            axes = page.axes
            try:
                arr = page.asarray()
            except (ValueError, NotImplementedError, KeyError) as exc:
                if "imagecodecs" not in str(exc):
                    raise
                arr = None
    orientation = orientation if 1 <= orientation <= 8 else 1
    if arr is None:  # compression tifffile cannot decode on its own: OpenCV can
        color, alpha = _from_cv2(_cv2_decode(data, "TIFF", source), source)
        scale, depth = _scale_for(color.dtype, source)
        return _Decoded(color, alpha, scale, depth, "TIFF", icc, None, orientation, warnings)
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
        raise _fail(source, f"TIFF photometric interpretation {photometric} with {depth}-bit samples is not supported")
    alpha = extra[..., 0] if extra.shape[2] >= 1 and extrasamples else None
    if alpha is not None and extrasamples[0] == 1:  # associated (premultiplied) alpha
        a = alpha.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            color = np.where(a[..., None] > 0, color.astype(np.float64) * (scale / a[..., None]), 0.0)
        color = np.clip(color, 0, scale)
    return _Decoded(color, alpha, scale, depth, "TIFF", icc, None, orientation, warnings)


def _tiff_to_yxs(arr: np.ndarray, axes: str, source: object) -> np.ndarray:
    """Reorder a tifffile page array to ``(Y, X, S)``."""
    if axes == "YX" and arr.ndim == 2:
        return arr[..., None]
    if axes == "YXS" and arr.ndim == 3:
        return arr
    if axes == "SYX" and arr.ndim == 3:
        return np.moveaxis(arr, 0, -1)
    raise _fail(source, f"TIFF layout {axes} {arr.shape} is not supported; save it as a plain 2-D image")


# --------------------------------------------------------------------------- public


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
    limit = max_pixels_limit(max_pixels)
    name = source if source is not None else "<memory>"
    if not data:
        raise _fail(name, "the file is empty (0 bytes); it is not an image")
    fmt = sniff_format(data[:16])
    if fmt is None:
        raise _unknown_format(name, data[:64])
    if (size := _quick_size(data, fmt)) is not None:
        check_pixel_count(size[0], size[1], limit, name)
    if fmt == "PNG" and (ihdr := _png_ihdr(data)) is not None and ihdr[2] == 16:
        decoded = _decode_png16(data, limit, name)
    elif fmt == "TIFF" and _tiff_needs_highbit(data, limit, name):
        decoded = _decode_tiff_highbit(data, name)
    else:
        decoded = _decode_pillow(data, fmt, limit, name)
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

    Raises :class:`~engine.errors.ImageTooLargeError` over the limit and
    :class:`~engine.errors.UnsupportedImageError` for missing, unreadable, empty, corrupt,
    truncated or unknown files; the message names the file.
    """
    p = Path(os.fspath(path))
    limit = max_pixels_limit(max_pixels)
    return decode_image(_read_bytes(p), max_pixels=limit, source=p)


def read_mask(path: str | Path, width: int, height: int) -> np.ndarray:
    """Read a selection mask: ``(height, width)`` float32 in ``[0, 1]`` (1 = filter fully).

    A file with transparency gives its alpha channel; otherwise its gray value (Rec. 601 luma
    for colour files). Raises :class:`~engine.errors.ParameterError` when the mask's size
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


def image_info(path: str | Path) -> ImageInfo:
    """Header facts about an image file without decoding its pixels (cheap: reads the header only).

    Raises :class:`~engine.errors.UnsupportedImageError` like :func:`read_image`.
    """
    p = Path(os.fspath(path))
    try:
        with open(p, "rb") as fh:
            head = fh.read(64 * 1024)
    except FileNotFoundError:
        raise _fail(p, "the file does not exist; check the path") from None
    except IsADirectoryError:
        raise _fail(p, "it is a folder, not an image file") from None
    except PermissionError:
        raise _fail(p, "permission denied; check the file's permissions (chmod u+r)") from None
    except OSError as exc:
        raise _fail(p, f"{exc.strerror or exc}") from None
    if not head:
        raise _fail(p, "the file is empty (0 bytes); it is not an image")
    fmt = sniff_format(head[:16])
    if fmt is None:
        raise _unknown_format(p, head)
    if fmt == "TIFF":
        return _tiff_info(p)
    ihdr = _png_ihdr(head) if fmt == "PNG" else None
    if ihdr is not None and ihdr[0] * ihdr[1] > max_pixels_limit():  # describe a bomb without opening it
        channels, alpha = (1 if ihdr[3] in (0, 4) else 3), ihdr[3] in (4, 6)
        return ImageInfo(p, fmt, ihdr[0], ihdr[1], channels, alpha, 16 if ihdr[2] == 16 else 8, "?", 1, 1)
    limit = max_pixels_limit()
    Image = _pillow(limit)
    with _pillow_open_errors(p, fmt, limit):
        with Image.open(p, formats=[fmt]) as im:
            width, height = im.size
            mode = im.mode
            frames = int(getattr(im, "n_frames", 1) or 1)
            raw = im.info.get("exif")
            orientation = exif_orientation(normalise_exif(raw) if isinstance(raw, bytes) else None)
            transparency = "transparency" in im.info
    channels, has_alpha, depth = _mode_facts(mode, transparency)
    if fmt == "PNG" and (ihdr := _png_ihdr(head)) is not None:
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

    with _decoder_errors(p, "TIFF"):
        with tifffile.TiffFile(p) as tif:
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            bits, sample_format = int(page.bitspersample), int(page.sampleformat)
            photometric, samples = int(page.photometric), int(page.samplesperpixel)
            extras = len(page.extrasamples)
            frames = len(tif.pages)
            o_tag = page.tags.get(_TIFF_ORIENTATION_TAG)
            orientation = int(o_tag.value) if o_tag is not None and isinstance(o_tag.value, int) else 1
    orientation = orientation if 1 <= orientation <= 8 else 1
    depth = 32 if sample_format == 3 else (16 if bits > 8 else 8)
    channels = 1 if photometric in (0, 1) else 3
    has_alpha = extras > 0 and samples > channels
    mode = {0: "L", 1: "L", 2: "RGB", 3: "P", 5: "CMYK", 6: "YCbCr"}.get(photometric, f"photometric-{photometric}")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(p, "TIFF", width, height, channels, has_alpha, depth, mode, frames, orientation)
