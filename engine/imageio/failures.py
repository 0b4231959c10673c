"""How reading fails: one-line UnsupportedImageError/ImageTooLargeError messages naming the file.

Third-party decoders raise anything on malformed data (OSError, SyntaxError, struct.error,
ValueError, IndexError...); :func:`decoder_errors` and :func:`pillow_errors` wrap every call
into them so that only :class:`~engine.core.errors.ClarityError` subclasses leave :mod:`engine.io`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from engine.core.errors import ClarityError, ImageTooLargeError, UnsupportedImageError
from engine.imageio.limits import ENV_MAX_PIXELS

__all__ = ["decoder_errors", "pillow_errors", "pillow_image", "read_failure"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def read_failure(source: object, reason: str) -> UnsupportedImageError:
    """``UnsupportedImageError("cannot read '<source>': <reason>")`` on one line."""
    return UnsupportedImageError(f"cannot read '{source}': {_one_line(reason)}")


@contextmanager
def decoder_errors(source: object, what: str) -> Iterator[None]:
    """Turn any exception a third-party decoder raises on bad data into ``UnsupportedImageError``."""
    try:
        yield
    except ClarityError:
        raise
    except MemoryError:
        raise read_failure(source, f"not enough memory to decode this {what} image") from None
    except Exception as exc:  # decoders raise anything on malformed input (OSError, SyntaxError, struct.error...)
        detail = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "(in memory)", str(exc))
        raise read_failure(
            source, f"the file is damaged or not a valid {what} image ({type(exc).__name__}: {detail})"
        ) from exc


def pillow_image(limit: int) -> ModuleType:
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
def pillow_errors(source: object, what: str, limit: int) -> Iterator[None]:
    """Like :func:`decoder_errors`, plus Pillow's own bomb refusal becomes ``ImageTooLargeError``."""
    from PIL import Image

    with decoder_errors(source, what):
        try:
            yield
        except Image.DecompressionBombError as exc:
            raise _too_large_from_pillow(exc, limit, source) from None
