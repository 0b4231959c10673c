"""A bad-input corpus and good synthetic photos, written with Pillow/OpenCV/tifffile (not engine.io).

``make_bad_input_corpus(folder)`` writes one file per awkward case and returns what reading it
must give: :class:`CorpusCase` with ``expect="ok"`` (and the decoded size, channels, bit depth,
alpha) or ``expect="error"`` (and the :class:`~engine.core.errors.ClarityError` subclass).
``make_good_photos(folder, n)`` writes ``n`` small, structured, photo-like images.
The hostile cases of issue 19 are part of the corpus: a FIFO, a link to ``/dev/zero``, a
socket, a 4 GiB sparse non-image and a name full of terminal escapes (all refused, none
opened or read whole).
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.errors import ClarityError, ImageTooLargeError, UnsupportedImageError

__all__ = ["CorpusCase", "make_bad_input_corpus", "make_good_photos", "photo_like"]

W, H = 23, 17  # odd sizes on purpose


@dataclass(frozen=True)
class CorpusCase:
    """One corpus file and the outcome :func:`engine.io.read_image` must give for it."""

    name: str
    path: Path
    expect: str  # "ok" or "error"
    width: int | None = None
    height: int | None = None
    channels: int | None = None
    bit_depth: int | None = None
    has_alpha: bool = False
    error: type[ClarityError] | None = None
    warns: bool = False  # a load warning is expected (animated / multi-frame files)
    skip_reason: str | None = None  # set when the case cannot be exercised here (e.g. chmod as root)


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A float ``(height, width, 3)`` image in [0, 1] with gradients, a disc, edges and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 3)
    img = np.stack(
        [0.5 + 0.4 * np.sin(xx / max(width, 1) * 3 + phase[c] + yy / max(height, 1) * 2) for c in range(3)], axis=-1
    )
    cy, cx, r = height * rng.uniform(0.3, 0.7), width * rng.uniform(0.3, 0.7), min(width, height) / 4
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    img[disc] = rng.uniform(0, 1, 3)
    img += 0.03 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1)


def _u8(img: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _png_bytes(arr: np.ndarray, mode: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _huge_header_png() -> bytes:
    """A valid-looking PNG whose header claims 100000 x 100000 RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def make_good_photos(folder: Path, n: int, *, width: int = 64, height: int = 48, seed: int = 0) -> list[Path]:
    """Write ``n`` photo-like images (alternating PNG and JPEG, 8-bit RGB) and return their paths."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = _u8(photo_like(width, height, seed + i))
        path = folder / (f"photo_{i:03d}.png" if i % 2 == 0 else f"photo_{i:03d}.jpg")
        Image.fromarray(img, "RGB").save(path, quality=95)
        paths.append(path)
    return paths


def make_bad_input_corpus(folder: Path) -> list[CorpusCase]:
    """Write the bad-input corpus into ``folder`` and return every case with its expected outcome."""
    import cv2
    import tifffile
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = _u8(photo_like(W, H, 1))
    gray = rgb[..., 1]
    cases: list[CorpusCase] = []

    def ok(name: str, data: bytes | None = None, **facts: object) -> None:
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        facts.setdefault("width", W)
        facts.setdefault("height", H)
        cases.append(CorpusCase(name, path, "ok", **facts))  # type: ignore[arg-type]

    def bad(name: str, data: bytes, error: type[ClarityError] = UnsupportedImageError) -> None:
        path = folder / name
        path.write_bytes(data)
        cases.append(CorpusCase(name, path, "error", error=error))

    png = _png_bytes(rgb, "RGB")
    jpg = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(jpg, "JPEG", quality=90)
    tif = io.BytesIO()
    tifffile.imwrite(tif, rgb, photometric="rgb")

    # --- must fail cleanly
    bad("zero-byte.png", b"")
    bad("truncated.png", png[: len(png) // 2])
    bad("truncated.jpg", jpg.getvalue()[: len(jpg.getvalue()) // 2])
    bad("truncated.tif", tif.getvalue()[: len(tif.getvalue()) // 2])
    bad("text-file.jpg", b"This is a plain text file pretending to be a JPEG.\n" * 4)
    bad("huge-header.png", _huge_header_png(), ImageTooLargeError)
    bad("png-signature-only.png", png[:8])

    # --- must load
    ok("bilevel.png", _png_bytes(gray > 128, "1"), channels=1, bit_depth=8)
    pal = Image.fromarray(rgb, "RGB").quantize(16)
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    ok("palette.png", buf.getvalue(), channels=3, bit_depth=8)
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=0)
    ok("palette-transparent.png", buf.getvalue(), channels=3, bit_depth=8, has_alpha=True)
    la = np.dstack([gray, np.linspace(0, 255, W * H).reshape(H, W).astype(np.uint8)])
    ok("gray-alpha.png", _png_bytes(la, "LA"), channels=1, bit_depth=8, has_alpha=True)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").convert("CMYK").save(buf, "JPEG", quality=95)
    ok("cmyk.jpg", buf.getvalue(), channels=3, bit_depth=8, warns=True)  # warns: converted to RGB
    g16 = (gray.astype(np.uint16) * 257 + 1).clip(0, 65535).astype(np.uint16)
    ok("gray16.png", cv2.imencode(".png", g16)[1].tobytes(), channels=1, bit_depth=16)
    rgb16 = (rgb.astype(np.uint16) * 257 + 1).clip(0, 65535).astype(np.uint16)
    ok("rgb16.png", cv2.imencode(".png", rgb16[..., ::-1])[1].tobytes(), channels=3, bit_depth=16)
    rgba16 = np.dstack([rgb16[..., ::-1], g16])
    ok("rgba16.png", cv2.imencode(".png", rgba16)[1].tobytes(), channels=3, bit_depth=16, has_alpha=True)
    buf = io.BytesIO()
    tifffile.imwrite(buf, rgb.astype(np.float32) / 255, photometric="rgb")
    ok("float32.tif", buf.getvalue(), channels=3, bit_depth=32)
    ok("rgb16-lzw.tif", cv2.imencode(".tif", rgb16[..., ::-1], [cv2.IMWRITE_TIFF_COMPRESSION, 5])[1].tobytes(),
       channels=3, bit_depth=16)
    frames = [Image.fromarray(_u8(photo_like(W, H, s)), "RGB") for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    ok("animated.gif", buf.getvalue(), channels=3, bit_depth=8, warns=True)
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    ok("animated.webp", buf.getvalue(), channels=3, bit_depth=8, warns=True)
    ok("ünïcødé 写真.png", png, channels=3, bit_depth=8)
    ok("name  with spaces .jpg", jpg.getvalue(), channels=3, bit_depth=8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "BMP")
    ok("plain.bmp", buf.getvalue(), channels=3, bit_depth=8)

    # --- hostile (issue 19): never opened or never read whole, refused with a one-line reason
    os.mkfifo(folder / "named-pipe.png")
    cases.append(CorpusCase("named-pipe.png", folder / "named-pipe.png", "error", error=UnsupportedImageError))
    os.symlink("/dev/zero", folder / "dev-zero-link.jpg")
    cases.append(CorpusCase("dev-zero-link.jpg", folder / "dev-zero-link.jpg", "error", error=UnsupportedImageError))
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(folder / "socket.png"))
    cases.append(CorpusCase("socket.png", folder / "socket.png", "error", error=UnsupportedImageError))
    with open(folder / "huge-sparse-non-image.png", "wb") as fh:
        fh.write(b"this is not an image; 4 GiB of nothing follow\n" * 2)
        fh.truncate(4 * 1024**3)  # sparse: takes no disk space, must never be read whole
    cases.append(CorpusCase("huge-sparse-non-image.png", folder / "huge-sparse-non-image.png", "error",
                            error=UnsupportedImageError))
    bad("escape\x1b]0;title\x07\x1b[2J\u202e-name.png", b"text, and a name full of terminal escapes\n" * 2)

    # --- unreadable (permission): root reads anything, so the case is marked skipped there
    locked = folder / "unreadable.png"
    locked.write_bytes(png)
    os.chmod(locked, 0)
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    cases.append(
        CorpusCase(
            "unreadable.png",
            locked,
            "error",
            error=UnsupportedImageError,
            skip_reason="running as root: chmod 000 does not stop root from reading" if is_root else None,
        )
    )
    return cases
