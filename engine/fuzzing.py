"""A mutation fuzzer for :func:`engine.io.decode_image` (what ``clarity fuzz`` runs).

Seed files (built-in tiny images in every supported format and mode, or a folder of files)
are mutated with a seeded :class:`random.Random` -- bit flips, "interesting" byte values,
truncation, inserted/deleted/duplicated blocks, splices of two seeds, and format-aware header
edits (PNG IHDR and chunk lengths with CRCs repaired, JPEG SOF, TIFF IFD entries, BMP/GIF/WebP
size fields) -- and fed to the decoder in-process.

Outcomes: success (then the document's invariants are checked), an
:class:`~engine.core.errors.UnsupportedImageError` (a clean refusal, as wanted), or a *crash*: any
other exception (other ClarityErrors included: a ParameterError out of the reader is a bug),
or a decoded document that breaks its contract. Crashes are grouped by exception type and the line that raised it; the
first sample of each group is saved to the output folder with its traceback.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.errors import ParameterError, UnsupportedImageError

__all__ = [
    "CrashGroup",
    "FuzzReport",
    "InvariantViolation",
    "builtin_seeds",
    "check_document",
    "check_info",
    "format_report",
    "load_seed_folder",
    "mutate",
    "record_crash",
    "run_fuzz",
]

MAX_SEED_BYTES = 2_000_000
"""Seed files larger than this are skipped (mutating big files is slow and finds nothing more)."""


class InvariantViolation(AssertionError):
    """A decode that "succeeded" but returned a document breaking the ImageDocument contract."""


@dataclass
class CrashGroup:
    """All crashes with the same exception type raised from the same place."""

    kind: str
    where: str
    message: str
    count: int = 0
    sample: Path | None = None
    mutation: str = ""


@dataclass(frozen=True)
class FuzzReport:
    """Figures of one fuzzing session."""

    runs: int
    ok: int
    rejected: int
    crashes: tuple[CrashGroup, ...]
    slow: tuple[tuple[str, float], ...]  # (mutation description, seconds) of inputs slower than the threshold
    seconds: float
    seeds: int
    rng_seed: int

    @property
    def crash_count(self) -> int:
        """Total crashing inputs (all groups)."""
        return sum(g.count for g in self.crashes)


# --------------------------------------------------------------------------- seeds


def builtin_seeds() -> dict[str, bytes]:
    """Tiny images (about 12x9) covering every format, mode and metadata path the reader has."""
    import cv2
    import tifffile
    from PIL import Image, ImageCms

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    u16 = rng.integers(0, 65536, (9, 12, 4), dtype=np.uint16)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "FuzzCam"
    exif_bytes = exif.tobytes()
    seeds: dict[str, bytes] = {}

    def pil(name: str, im: Image.Image, fmt: str, **options: object) -> None:
        buf = io.BytesIO()
        im.save(buf, fmt, **options)
        seeds[name] = buf.getvalue()

    im_rgb = Image.fromarray(rgb, "RGB")
    pil("rgb.png", im_rgb, "PNG", exif=exif_bytes, icc_profile=icc)
    pil("gray.png", Image.fromarray(gray, "L"), "PNG")
    pil("la.png", Image.fromarray(rgb[..., :2], "LA"), "PNG")
    pil("rgba.png", Image.fromarray(np.dstack([rgb, gray]), "RGBA"), "PNG")
    pil("palette-trns.png", im_rgb.quantize(8), "PNG", transparency=0)
    pil("bilevel.png", Image.fromarray(gray > 128), "PNG")
    seeds["gray16.png"] = cv2.imencode(".png", u16[..., 0])[1].tobytes()
    seeds["rgb16.png"] = cv2.imencode(".png", u16[..., :3])[1].tobytes()
    seeds["rgba16.png"] = cv2.imencode(".png", u16)[1].tobytes()
    pil("rgb.jpg", im_rgb, "JPEG", exif=exif_bytes, icc_profile=icc, quality=90)
    pil("gray.jpg", Image.fromarray(gray, "L"), "JPEG")
    pil("progressive.jpg", im_rgb, "JPEG", progressive=True)
    pil("cmyk.jpg", im_rgb.convert("CMYK"), "JPEG")
    pil("rgb.tif", im_rgb, "TIFF", exif=exif_bytes, icc_profile=icc)
    pil("palette.tif", im_rgb.quantize(8), "TIFF")
    pil("cmyk.tif", im_rgb.convert("CMYK"), "TIFF")
    for name, arr, kwargs in (
        ("rgb16.tif", u16[..., :3], {"photometric": "rgb"}),
        ("rgba16.tif", u16, {"photometric": "rgb", "extrasamples": ["assocalpha"]}),
        ("rgb16-planar.tif", u16[..., :3].transpose(2, 0, 1).copy(), {"photometric": "rgb", "planarconfig": "separate"}),
        ("float.tif", (u16[..., :3] / 65535).astype(np.float32), {"photometric": "rgb", "compression": "zlib"}),
        ("gray-float.tif", (u16[..., 0] / 65535).astype(np.float32), {"photometric": "minisblack"}),
    ):
        buf = io.BytesIO()
        tifffile.imwrite(buf, arr, **kwargs)
        seeds[name] = buf.getvalue()
    seeds["lzw16.tif"] = cv2.imencode(".tif", u16[..., :3], [cv2.IMWRITE_TIFF_COMPRESSION, 5])[1].tobytes()
    pil("rgb.webp", im_rgb, "WEBP", quality=80, exif=exif_bytes, icc_profile=icc)
    pil("rgba.webp", Image.fromarray(np.dstack([rgb, gray]), "RGBA"), "WEBP", lossless=True)
    frames = [im_rgb, Image.fromarray(rgb[::-1].copy(), "RGB")]
    pil("anim.webp", frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    pil("anim.gif", frames[0], "GIF", save_all=True, append_images=frames[1:])
    pil("rgb.bmp", im_rgb, "BMP")
    pil("rgba.bmp", Image.fromarray(np.dstack([rgb, gray]), "RGBA"), "BMP")
    pil("palette.bmp", im_rgb.quantize(8), "BMP")
    return seeds


def load_seed_folder(folder: Path) -> dict[str, bytes]:
    """Every non-empty regular file up to :data:`MAX_SEED_BYTES` in ``folder`` (recursively)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"corpus folder '{folder}' does not exist; give a folder of image files")
    seeds: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        try:
            if path.is_file() and 0 < path.stat().st_size <= MAX_SEED_BYTES:
                seeds[str(path.relative_to(folder))] = path.read_bytes()
        except OSError:
            continue
    if not seeds:
        raise ParameterError(f"corpus folder '{folder}' holds no readable files up to {MAX_SEED_BYTES} bytes")
    return seeds


# --------------------------------------------------------------------------- mutations

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x40)
_INTERESTING32 = (0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 65535, 100_000, 3, 16)


def _fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC so that mutations reach past the CRC check."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : end])) & 0xFFFFFFFF)
        pos = end + 4
    return bytes(out)


def _png_chunk_offsets(data: bytes) -> list[int]:
    offsets, pos = [], 8
    while pos + 12 <= len(data):
        offsets.append(pos)
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return offsets


def _header_fields(data: bytes) -> list[tuple[int, int, str]]:
    """``(offset, size, byte order)`` of integer header fields worth editing for this format."""
    if data.startswith(b"\x89PNG"):
        fields = [(16, 4, ">"), (20, 4, ">"), (24, 1, ">"), (25, 1, ">"), (28, 1, ">")]
        fields += [(o, 4, ">") for o in _png_chunk_offsets(data)]  # chunk lengths
        return fields
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        order = "<" if data[:2] == b"II" else ">"
        (ifd,) = struct.unpack(order + "I", data[4:8])
        fields = [(4, 4, order)]
        if ifd + 2 <= len(data):
            (n,) = struct.unpack(order + "H", data[ifd : ifd + 2])
            for i in range(min(n, 64)):
                e = ifd + 2 + 12 * i
                if e + 12 <= len(data):
                    fields += [(e + 2, 2, order), (e + 4, 4, order), (e + 8, 4, order), (e + 8, 2, order)]
        return fields
    if data.startswith(b"\xff\xd8"):
        sof = next((i for i in range(2, len(data) - 9) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2)), None)
        fields = [(sof + 2, 2, ">"), (sof + 4, 1, ">"), (sof + 5, 2, ">"), (sof + 7, 2, ">"), (sof + 9, 1, ">")] if sof else []
        return fields + [(i + 2, 2, ">") for i in range(2, min(len(data) - 3, 4096)) if data[i] == 0xFF and data[i + 1] >= 0xC0][:32]
    if data[:2] == b"BM":
        return [(2, 4, "<"), (10, 4, "<"), (14, 4, "<"), (18, 4, "<"), (22, 4, "<"), (28, 2, "<"), (30, 4, "<"), (46, 4, "<")]
    if data[:3] == b"GIF":
        return [(6, 2, "<"), (8, 2, "<"), (10, 1, "<")]
    if data[:4] == b"RIFF":
        return [(4, 4, "<"), (16, 4, "<"), (24, 3, "<"), (26, 2, "<"), (28, 2, "<")]
    return [(0, 4, ">"), (4, 4, ">"), (8, 4, "<")]


def _edit_field(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    fields = [f for f in _header_fields(data) if f[0] + f[1] <= len(data)]
    if not fields:
        return _bitflip(data, rng)
    off, size, order = rng.choice(fields)
    top = (1 << (8 * size)) - 1
    current = int.from_bytes(data[off : off + size], "big" if order == ">" else "little")
    choice = rng.random()
    if choice < 0.4:
        value = rng.choice(_INTERESTING32) & top
    elif choice < 0.7:
        value = (current + rng.choice((-2, -1, 1, 2, 8, -8, 256))) & top
    else:
        value = rng.randint(0, top)
    patched = data[:off] + value.to_bytes(size, "big" if order == ">" else "little") + data[off + size :]
    return patched, f"field@{off}:{size}={value}"


def _bitflip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    n = rng.randint(1, 8)
    for _ in range(n):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out), f"bitflip x{n}"


def _bytes_set(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    i = rng.randrange(len(out))
    n = rng.randint(1, 4)
    for k in range(i, min(i + n, len(out))):
        out[k] = rng.choice(_INTERESTING)
    return bytes(out), f"set@{i}x{n}"


def _truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.randint(1, max(1, len(data) - 1))
    return data[:cut], f"truncate@{cut}"


def _block(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    i = rng.randrange(len(data))
    n = rng.randint(1, 64)
    kind = rng.randrange(3)
    if kind == 0:
        return data[:i] + data[i + n :], f"delete@{i}x{n}"
    if kind == 1:
        return data[:i] + bytes(rng.getrandbits(8) for _ in range(n)) + data[i:], f"insert@{i}x{n}"
    return data[:i] + data[i : i + n] * rng.randint(2, 8) + data[i + n :], f"repeat@{i}x{n}"


MutationFn = Callable[[bytes, random.Random], tuple[bytes, str]]
_MUTATORS: tuple[tuple[MutationFn, float], ...] = (
    (_bitflip, 0.25),
    (_bytes_set, 0.15),
    (_edit_field, 0.3),
    (_truncate, 0.12),
    (_block, 0.18),
)


def mutate(data: bytes, rng: random.Random, donors: Sequence[bytes] = ()) -> tuple[bytes, str]:
    """One to three random mutations of ``data`` (maybe spliced with a donor); returns bytes and a description."""
    steps = []
    if donors and rng.random() < 0.05:
        other = rng.choice(donors)
        cut = rng.randrange(1, max(2, len(data)))
        data = data[:cut] + other[rng.randrange(len(other)) :]
        steps.append(f"splice@{cut}")
    fns, weights = zip(*_MUTATORS)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not data:
            break
        fn = rng.choices(fns, weights)[0]
        data, what = fn(data, rng)
        steps.append(what)
    if data.startswith(b"\x89PNG") and rng.random() < 0.7:
        data = _fix_png_crcs(data)
        steps.append("crc-fixed")
    return data, "+".join(steps)


# --------------------------------------------------------------------------- checking


def check_document(doc: object, max_pixels: int) -> None:
    """Raise :class:`InvariantViolation` unless ``doc`` honours the ImageDocument contract."""
    from engine.io import ImageDocument

    def bad(why: str) -> InvariantViolation:
        return InvariantViolation(why)

    if not isinstance(doc, ImageDocument):
        raise bad(f"decoder returned {type(doc).__name__}")
    px = doc.pixels
    if px.dtype != np.float32 or px.ndim != 3 or px.shape[2] not in (1, 3) or 0 in px.shape:
        raise bad(f"pixels {px.dtype} {px.shape}")
    if px.shape[0] * px.shape[1] > max_pixels:
        raise bad(f"{px.shape[1]}x{px.shape[0]} decoded despite the limit of {max_pixels} pixels")
    if not np.isfinite(px).all() or px.min() < 0.0 or px.max() > 1.0:
        raise bad("pixels not finite or outside [0, 1]")
    if doc.alpha is not None:
        a = doc.alpha
        if a.dtype != np.float32 or a.shape != px.shape[:2] or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise bad(f"alpha {a.dtype} {a.shape} invalid")
    if doc.bit_depth not in (8, 16, 32):
        raise bad(f"bit depth {doc.bit_depth}")
    if not all(isinstance(w, str) and "\n" not in w for w in doc.warnings):
        raise bad("warnings are not one-line strings")


def check_info(info: object) -> None:
    """Raise :class:`InvariantViolation` unless ``info`` is a sane :class:`engine.io.ImageInfo`."""
    from engine.io import ImageInfo

    if not isinstance(info, ImageInfo):
        raise InvariantViolation(f"image_info returned {type(info).__name__}")
    if not (info.width > 0 and info.height > 0 and info.channels in (1, 3) and info.bit_depth in (8, 16, 32)):
        raise InvariantViolation(f"implausible info {info}")
    if info.frames < 1 or not 1 <= info.orientation <= 8:
        raise InvariantViolation(f"implausible frames/orientation {info.frames}/{info.orientation}")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def record_crash(
    groups: dict[tuple[str, str], CrashGroup], exc: BaseException, data: bytes, label: str, out_dir: Path | None
) -> CrashGroup:
    """Count ``exc`` in its group (same exception type raised from the same place) and return the group.

    A group's first crash keeps a one-line message, ``label`` (the mutation or input kind that made it)
    and, with ``out_dir``, the input bytes and traceback saved there to replay.
    """
    key = (type(exc).__name__, _where(exc))
    group = groups.get(key)
    if group is None:
        group = groups[key] = CrashGroup(key[0], key[1], " ".join(str(exc).split())[:200], 0, None, label)
        if out_dir is not None:
            group.sample = _save_sample(out_dir, key, data, exc, label)
    group.count += 1
    return group


# --------------------------------------------------------------------------- driver


def _quiet_decoders() -> None:
    """Silence decoder chatter (OpenCV log, tifffile's logger) during a fuzzing session."""
    import logging

    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except Exception:  # pragma: no cover - older OpenCV builds
        pass


def run_fuzz(
    seeds: Mapping[str, bytes],
    *,
    seconds: float,
    rng_seed: int = 0,
    out_dir: Path | None = None,
    max_pixels: int = 4_000_000,
    slow_seconds: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
    target: str = "read",
) -> FuzzReport:
    """Fuzz the reader for ``seconds`` seconds; returns the figures.

    ``target``: ``"read"`` feeds :func:`engine.io.decode_image` (in memory); ``"info"`` writes
    each input to a temporary file and calls :func:`engine.io.image_info` (header probe).

    ``out_dir``: where the first sample (``.bin``) and traceback (``.txt``) of each crash
    group are saved (created on the first crash). ``progress(runs, crashes)`` is called
    about once a second. Deterministic for a given ``rng_seed`` except for the time budget.
    """
    import tempfile

    from engine.io import decode_image, image_info

    if target not in ("read", "info"):
        raise ParameterError(f"fuzz target '{target}' is unknown; use 'read' or 'info'")
    if not seeds:
        raise ParameterError("no seed files to fuzz; give a corpus folder with image files")
    if seconds <= 0:
        raise ParameterError(f"fuzzing time {seconds} must be positive")
    _quiet_decoders()
    rng = random.Random(rng_seed)
    names = sorted(seeds)
    donors = [seeds[n] for n in names]
    groups: dict[tuple[str, str], CrashGroup] = {}
    slow: list[tuple[str, float]] = []
    runs = ok = rejected = 0
    start = time.perf_counter()
    next_report = start + 1.0
    scratch = tempfile.TemporaryDirectory(prefix="clarity-fuzz-")
    probe_path = Path(scratch.name) / "input.img"

    def attempt(data: bytes, index: int) -> None:
        if target == "read":
            check_document(decode_image(data, max_pixels=max_pixels, source=f"fuzz-{index}"), max_pixels)
        else:
            probe_path.write_bytes(data)
            check_info(image_info(probe_path))

    with scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while True:
            now = time.perf_counter()
            if now - start >= seconds:
                break
            if progress is not None and now >= next_report:
                progress(runs, sum(g.count for g in groups.values()))
                next_report = now + 1.0
            name = rng.choice(names)
            data, what = mutate(seeds[name], rng, donors)
            mutation = f"{name}: {what}"
            t0 = time.perf_counter()
            try:
                attempt(data, runs)
                ok += 1
            except UnsupportedImageError:  # includes ImageTooLargeError: the clean refusals
                rejected += 1
            except Exception as exc:  # a crash (any other ClarityError too): what the fuzzer is looking for
                record_crash(groups, exc, data, mutation, out_dir)
            elapsed = time.perf_counter() - t0
            if elapsed > slow_seconds:
                slow.append((mutation, round(elapsed, 2)))
                if out_dir is not None:
                    _save_sample(out_dir, ("slow", f"{elapsed:.1f}s"), data, None, mutation)
            runs += 1
    return FuzzReport(
        runs=runs,
        ok=ok,
        rejected=rejected,
        crashes=tuple(sorted(groups.values(), key=lambda g: -g.count)),
        slow=tuple(slow),
        seconds=round(time.perf_counter() - start, 1),
        seeds=len(seeds),
        rng_seed=rng_seed,
    )


def _save_sample(
    out_dir: Path, key: tuple[str, str], data: bytes, exc: BaseException | None, mutation: str
) -> Path | None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(data).hexdigest()[:10]
        path = out_dir / f"{key[0]}-{digest}.bin"
        path.write_bytes(data)
        tb = "" if exc is None else "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        path.with_suffix(".txt").write_text(f"mutation: {mutation}\nwhere: {key[1]}\n\n{tb}", encoding="utf-8")
        return path
    except OSError:
        return None


def format_report(report: FuzzReport) -> str:
    """A human-readable summary with the crash table."""
    lines = [
        f"fuzzed {report.runs} inputs in {report.seconds} s from {report.seeds} seeds (rng seed {report.rng_seed}): "
        f"{report.ok} decoded, {report.rejected} cleanly rejected, {report.crash_count} crashes "
        f"in {len(report.crashes)} groups",
    ]
    if report.crashes:
        lines.append(f"{'exception':<24} {'count':>6}  {'where':<40} sample")
        for g in report.crashes:
            lines.append(f"{g.kind:<24} {g.count:>6}  {g.where:<40} {g.sample or '-'}")
            lines.append(f"{'':<24} {'':>6}  {g.message[:100]}  [{g.mutation[:80]}]")
    if report.slow:
        lines.append(f"{len(report.slow)} slow inputs (> threshold): " + "; ".join(f"{m} {s}s" for m, s in report.slow[:5]))
    return "\n".join(lines)
