"""engine.io: exact round trips, orientation, metadata, alpha, limits, failure modes."""

from __future__ import annotations

import errno
import io
import os
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

import engine.core.atomic as atomic
from engine.core.errors import ImageTooLargeError, ImageWriteError, ParameterError, UnsupportedImageError
from engine.imageio.writer import quantize
from engine.io import (
    DEFAULT_MAX_PIXELS,
    KEEP,
    SUPPORTED_EXTENSIONS,
    ImageDocument,
    ImageWriteWarning,
    image_info,
    read_image,
    read_mask,
    write_image,
    write_image_report,
)
from tests.corpus import make_bad_input_corpus


def _doc(pixels: np.ndarray, alpha: np.ndarray | None = None, bit_depth: int = 8, **kw: object) -> ImageDocument:
    return ImageDocument(pixels.astype(np.float32), None if alpha is None else alpha.astype(np.float32), bit_depth,
                         kw.pop("icc_profile", None), kw.pop("exif", None), "PNG")  # type: ignore[arg-type]


def _u16_pattern(h: int, w: int, c: int) -> np.ndarray:
    k = np.arange(h * w * c).reshape(h, w, c) % 255
    return (257 * k + 1).astype(np.uint16)  # never a multiple of 257: 8-bit truncation would show


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------- 16-bit exactness


def test_16bit_rgb_png_round_trips_exactly(tmp_path: Path) -> None:
    ref = _u16_pattern(7, 9, 3)
    src = tmp_path / "in16.png"
    assert cv2.imwrite(str(src), ref[..., ::-1])
    doc = read_image(src)
    assert (doc.bit_depth, doc.channels, doc.format) == (16, 3, "PNG")
    assert np.array_equal(np.floor(doc.pixels.astype(np.float64) * 65535 + 0.5).astype(np.uint16), ref)
    out = write_image(tmp_path / "out16.png", doc)
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back[..., ::-1], ref)
    assert np.array_equal(read_image(out).pixels, doc.pixels)


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_16bit_gray_la_rgba_png_round_trip(tmp_path: Path, channels: int) -> None:
    ref = _u16_pattern(5, 6, channels)
    color = ref[..., :1] if channels <= 2 else ref[..., :3]
    alpha = None if channels in (1, 3) else ref[..., -1]
    doc = _doc(color / 65535.0, None if alpha is None else alpha / 65535.0, bit_depth=16)
    out = write_image(tmp_path / "x.png", doc)
    back = read_image(out)
    assert back.bit_depth == 16 and back.channels == color.shape[2]
    assert np.array_equal(quantize(back.pixels, 16), color)
    if alpha is not None:
        assert back.alpha is not None and np.array_equal(quantize(back.alpha, 16), alpha)
    ihdr = out.read_bytes()[24:26]  # bit depth, colour type
    assert ihdr == bytes([16, {1: 0, 2: 4, 4: 6}[channels]])


def test_16bit_and_float_tiff_round_trip(tmp_path: Path) -> None:
    ref = _u16_pattern(6, 4, 3)
    alpha = _u16_pattern(6, 4, 1)[..., 0][::-1].copy()
    doc = _doc(ref / 65535.0, alpha / 65535.0, bit_depth=16)
    back = read_image(write_image(tmp_path / "x.tif", doc))
    assert back.bit_depth == 16 and np.array_equal(quantize(back.pixels, 16), ref)
    assert back.alpha is not None and np.array_equal(quantize(back.alpha, 16), alpha)
    fdoc = _doc(np.linspace(0, 1, 6 * 4 * 3).reshape(6, 4, 3), bit_depth=32)
    out = write_image(tmp_path / "f.tiff", fdoc)
    assert tifffile.imread(out).dtype == np.float32
    fback = read_image(out)
    assert fback.bit_depth == 32 and np.array_equal(fback.pixels, fdoc.pixels)


def test_lzw_16bit_tiff_read_through_opencv_fallback(tmp_path: Path) -> None:
    ref = _u16_pattern(5, 7, 3)
    path = tmp_path / "lzw.tif"
    assert cv2.imwrite(str(path), ref[..., ::-1], [cv2.IMWRITE_TIFF_COMPRESSION, 5])
    doc = read_image(path)
    assert doc.bit_depth == 16 and np.array_equal(quantize(doc.pixels, 16), ref)


def test_float_tiff_values_outside_unit_range_are_clipped(tmp_path: Path) -> None:
    data = np.array([[[-0.5, 0.25, 1.5]]], np.float32)
    tifffile.imwrite(tmp_path / "hdr.tif", data, photometric="rgb")
    doc = read_image(tmp_path / "hdr.tif")
    assert doc.pixels.tolist() == [[[0.0, 0.25, 1.0]]]


# ----------------------------------------------------------------- 8-bit and modes


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".webp"])
def test_8bit_rgb_lossless_round_trip(tmp_path: Path, ext: str) -> None:
    ref = (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 5 % 256).astype(np.uint8)
    doc = _doc(ref / 255.0)
    out = write_image(tmp_path / f"x{ext}", doc, quality=100)
    back = read_image(out)
    assert back.bit_depth == 8 and np.array_equal(quantize(back.pixels, 8), ref)


def test_alpha_modes_are_preserved(tmp_path: Path) -> None:
    g = np.linspace(0, 1, 20).reshape(4, 5, 1)
    a = np.linspace(1, 0, 20).reshape(4, 5)
    out = write_image(tmp_path / "la.png", _doc(g, a))
    assert Image.open(out).mode == "LA"
    back = read_image(out)
    assert back.channels == 1 and np.array_equal(quantize(back.alpha, 8), quantize(a, 8))
    rgb = np.dstack([g, g * 0.5, 1 - g])
    out = write_image(tmp_path / "rgba.png", _doc(rgb, a))
    assert Image.open(out).mode == "RGBA"
    assert np.array_equal(quantize(read_image(out).alpha, 8), quantize(a, 8))


def test_jpeg_output_flattens_alpha_onto_white_with_warning(tmp_path: Path) -> None:
    px = np.zeros((8, 8, 3))
    alpha = np.zeros((8, 8))
    alpha[:, :4] = 1.0
    with pytest.warns(ImageWriteWarning, match="flattened onto white"):
        out = write_image(tmp_path / "x.jpg", _doc(px, alpha))
    back = read_image(out)
    assert back.alpha is None
    assert back.pixels[:, :3].max() < 0.05 and back.pixels[:, 5:].min() > 0.95


def test_palette_with_transparency_gives_alpha(tmp_path: Path) -> None:
    im = Image.new("P", (4, 3))
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.putpixel((1, 1), 1)
    im.save(tmp_path / "p.png", transparency=0)
    doc = read_image(tmp_path / "p.png")
    assert doc.channels == 3 and doc.alpha is not None
    assert doc.alpha[1, 1] == 1.0 and doc.alpha.sum() == 1.0
    assert doc.pixels[1, 1].tolist() == [0.0, 1.0, 0.0]


def test_cmyk_jpeg_matches_the_rgb_it_came_from(tmp_path: Path) -> None:
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:8] = (200, 40, 30)
    rgb[8:] = (20, 90, 220)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=98)
    doc = read_image(tmp_path / "c.jpg")
    assert doc.channels == 3 and doc.icc_profile is None
    assert np.abs(doc.pixels * 255 - rgb).mean() < 4.0  # inverted (Adobe) CMYK would be off by ~100


def test_one_bit_image(tmp_path: Path) -> None:
    bits = np.zeros((3, 4), bool)
    bits[0, 0] = bits[2, 3] = True
    Image.fromarray(bits).save(tmp_path / "b.png")
    doc = read_image(tmp_path / "b.png")
    assert doc.channels == 1 and doc.pixels[..., 0].tolist() == bits.astype(float).tolist()


def test_bit_depth_policy(tmp_path: Path) -> None:
    doc16 = _doc(_u16_pattern(4, 4, 3) / 65535.0, bit_depth=16)
    assert write_image_report(tmp_path / "a.png", doc16).bit_depth == 16
    assert write_image_report(tmp_path / "a.tif", doc16).bit_depth == 16
    for ext in (".jpg", ".webp", ".bmp"):
        assert write_image_report(tmp_path / f"a{ext}", doc16).bit_depth == 8
    assert read_image(tmp_path / "a.jpg").bit_depth == 8
    doc32 = _doc(np.full((2, 2, 1), 0.5), bit_depth=32)
    assert write_image_report(tmp_path / "f.png", doc32).bit_depth == 16
    with pytest.raises(ParameterError, match="JPEG cannot store 16"):
        write_image(tmp_path / "b.jpg", doc16, bit_depth=16)
    assert write_image_report(tmp_path / "d.png", doc16, bit_depth=8).bit_depth == 8


def test_quantisation_clips_then_rounds_half_up() -> None:
    x = np.array([-0.2, 0.0, 0.5, 1.0, 1.7, np.nan, np.inf, 0.4 / 255, 0.6 / 255, 254.4 / 255, 254.6 / 255])
    assert quantize(x, 8).tolist() == [0, 0, 128, 255, 255, 0, 255, 0, 1, 254, 255]
    k = np.arange(65536)
    assert np.array_equal(quantize((k / 65535).astype(np.float32), 16), k)  # every 16-bit level survives
    assert np.array_equal(quantize((k[:256] / 255).astype(np.float32), 8), k[:256])
    assert quantize(np.array([0.5, 1.2, -1.0]), 16).tolist() == [32768, 65535, 0]


def test_format_and_extension_errors(tmp_path: Path) -> None:
    doc = _doc(np.zeros((2, 2, 3)))
    with pytest.raises(ImageWriteError, match="unknown extension '.xyz'"):
        write_image(tmp_path / "a.xyz", doc)
    out = write_image(tmp_path / "a.xyz", doc, format="jpg")
    assert Image.open(out).format == "JPEG"
    with pytest.raises(ParameterError, match="quality"):
        write_image(tmp_path / "q.jpg", doc, quality=0)
    assert SUPPORTED_EXTENSIONS == frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})


# ----------------------------------------------------------------- orientation & metadata


def _asymmetric() -> np.ndarray:
    img = np.zeros((3, 5, 3), np.uint8)
    img[..., 0] = np.arange(5) * 50
    img[..., 1] = (np.arange(3) * 100)[:, None]
    img[0, 0, 2] = 255
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_applied_and_reset(tmp_path: Path, orientation: int, fmt: str) -> None:
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    im = Image.fromarray(_asymmetric())
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "ClarityCam"
    im.save(path, fmt, exif=exif.tobytes(), quality=100, subsampling=0)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    doc = read_image(path)
    assert doc.pixels.shape[:2] == expected.shape[:2]
    tol = 0 if fmt == "PNG" else 12
    assert np.abs(quantize(doc.pixels, 8).astype(int) - expected).max() <= tol
    info = image_info(path)
    assert (info.width, info.height, info.orientation) == (doc.width, doc.height, orientation)
    out = write_image(tmp_path / f"saved.{fmt.lower()}", doc)
    saved = Image.open(out).getexif()
    assert saved.get(0x0112) == 1 and saved.get(0x010F) == "ClarityCam"
    again = read_image(out)
    assert again.pixels.shape == doc.pixels.shape  # not rotated twice


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_icc_profile_kept(tmp_path: Path, ext: str) -> None:
    icc = _srgb_icc()
    Image.fromarray(_asymmetric()).save(tmp_path / f"src{ext}", icc_profile=icc)
    doc = read_image(tmp_path / f"src{ext}")
    assert doc.icc_profile == icc
    back = read_image(write_image(tmp_path / f"out{ext}", doc))
    assert back.icc_profile == icc


def test_icc_kept_in_16bit_png_and_tiff(tmp_path: Path) -> None:
    icc = _srgb_icc()
    doc = ImageDocument(_u16_pattern(3, 3, 3) / np.float32(65535), None, 16, icc, None, "PNG")
    for ext in (".png", ".tif"):
        assert read_image(write_image(tmp_path / f"a{ext}", doc)).icc_profile == icc


def test_mismatched_icc_profile_dropped_with_warning(tmp_path: Path) -> None:
    doc = ImageDocument(np.zeros((2, 2, 1), np.float32), None, 8, _srgb_icc(), None, "PNG")
    report = write_image_report(tmp_path / "g.png", doc)
    assert any("ICC profile" in w for w in report.warnings)
    assert read_image(report.path).icc_profile is None


# ----------------------------------------------------------------- limits and failures


def test_bomb_header_fails_fast_with_fix_hint(tmp_path: Path) -> None:
    case = next(c for c in make_bad_input_corpus(tmp_path) if c.name == "huge-header.png")
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="CLARITY_MAX_PIXELS") as info:
        read_image(case.path)
    assert time.perf_counter() - start < 0.5
    assert "100000x100000" in str(info.value) and "huge-header.png" in str(info.value)
    assert DEFAULT_MAX_PIXELS == 200_000_000


def test_gif_frame_larger_than_its_screen_is_refused_fast(tmp_path: Path) -> None:
    """Found by ``clarity fuzz``: Pillow enlarges the canvas to the frame inside ``Image.open``."""
    gif = (
        b"GIF89a" + (4).to_bytes(2, "little") * 2 + b"\x00\x00\x00"  # 4x4 screen, no global palette
        + b"," + b"\x00\x00\x00\x00" + (60000).to_bytes(2, "little") * 2 + b"\x80"  # 60000x60000 frame
        + b"\x00\x00\x00\xff\xff\xff" + b"\x02\x02\x4c\x01\x00" + b";"
    )
    (tmp_path / "bomb.gif").write_bytes(gif)
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="bomb.gif.*CLARITY_MAX_PIXELS"):
        read_image(tmp_path / "bomb.gif")
    assert time.perf_counter() - start < 0.5


def test_png_chunk_length_past_end_is_refused_fast(tmp_path: Path) -> None:
    """Found by ``clarity fuzz``: OpenCV allocated a 4 GB IDAT claimed by a 1 kB 16-bit PNG (11 s)."""
    data = bytearray(cv2.imencode(".png", _u16_pattern(9, 12, 4))[1].tobytes())
    data[33:37] = (3_890_768_992).to_bytes(4, "big")
    (tmp_path / "chunk.png").write_bytes(bytes(data))
    start = time.perf_counter()
    with pytest.raises(UnsupportedImageError, match="chunk 'IDAT' at byte 33 claims 3890768992 bytes"):
        read_image(tmp_path / "chunk.png")
    assert time.perf_counter() - start < 0.5


def _patch_tiff_tags(data: bytes, values: dict[int, int]) -> bytes:
    """Set IFD0 tags to LONG ``values`` in a little-endian classic TIFF."""
    import struct

    out = bytearray(data)
    assert out[:4] == b"II*\x00"
    (ifd,) = struct.unpack("<I", out[4:8])
    (n,) = struct.unpack("<H", out[ifd : ifd + 2])
    for i in range(n):
        e = ifd + 2 + 12 * i
        (tag,) = struct.unpack("<H", out[e : e + 2])
        if tag in values:
            out[e + 2 : e + 12] = struct.pack("<HII", 4, 1, values[tag])
    return bytes(out)


def test_tiff_with_far_too_few_strips_is_refused_fast(tmp_path: Path) -> None:
    """Found by ``clarity fuzz``: tifffile looped in Python over 5.7 million missing strips (27 s)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, _u16_pattern(9, 12, 3).transpose(2, 0, 1).copy(), photometric="rgb", planarconfig="separate")
    path = tmp_path / "strips.tif"
    path.write_bytes(_patch_tiff_tags(buf.getvalue(), {257: 65000, 278: 1}))  # ImageLength, RowsPerStrip
    start = time.perf_counter()
    with pytest.raises(UnsupportedImageError, match="strips.tif"):
        read_image(path)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("kind", ["png8", "png16", "tif16", "tiffloat", "jpg"])
def test_pixel_limit_checked_on_every_decoder_path(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / f"img-{kind}"
    arr16 = _u16_pattern(10, 12, 3)
    if kind == "png8":
        Image.fromarray((arr16 >> 8).astype(np.uint8)).save(path, "PNG")
    elif kind == "png16":
        path.write_bytes(cv2.imencode(".png", arr16)[1].tobytes())
    elif kind == "tif16":
        tifffile.imwrite(path, arr16, photometric="rgb")
    elif kind == "tiffloat":
        tifffile.imwrite(path, arr16.astype(np.float32) / 65535, photometric="rgb")
    else:
        Image.fromarray((arr16 >> 8).astype(np.uint8)).save(path, "JPEG")
    assert read_image(path, max_pixels=120).width == 12
    with pytest.raises(ImageTooLargeError, match="12x10"):
        read_image(path, max_pixels=119)
    monkeypatch.setenv("CLARITY_MAX_PIXELS", "100")
    with pytest.raises(ImageTooLargeError):
        read_image(path)
    monkeypatch.setenv("CLARITY_MAX_PIXELS", "lots")
    with pytest.raises(ParameterError, match="CLARITY_MAX_PIXELS"):
        read_image(path)


def test_unreadable_file_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.png"
    Image.new("RGB", (2, 2)).save(path)

    import engine.imageio.reader as reader

    def denied(path: object) -> object:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(reader, "open_regular", denied)
    with pytest.raises(UnsupportedImageError, match="locked.png.*permission denied"):
        read_image(path)


def test_missing_and_folder_paths(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedImageError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(UnsupportedImageError, match="folder"):
        read_image(tmp_path)


def test_write_disk_full_leaves_target_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.png"
    write_image(target, _doc(np.zeros((4, 4, 3))))
    before = target.read_bytes()

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write_all", full)
    with pytest.raises(ImageWriteError, match="disk is full"):
        write_image(target, _doc(np.ones((4, 4, 3))))
    assert target.read_bytes() == before
    assert _only(tmp_path) == ["keep.png"]


def test_write_no_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    write_image(target, _doc(np.zeros((2, 2, 1))), overwrite=False)
    with pytest.raises(ImageWriteError, match="already exists"):
        write_image(target, _doc(np.ones((2, 2, 1))), overwrite=False)
    assert read_image(target).pixels.max() == 0.0


def test_unicode_and_spaces_in_paths(tmp_path: Path) -> None:
    folder = tmp_path / "dossier été 写真"
    folder.mkdir()
    doc = _doc(np.full((3, 4, 3), 0.25))
    for name in ("ünï cødé.png", "a b  c.jpg", "Фото 1.tiff"):
        out = write_image(folder / name, doc)
        assert np.abs(read_image(out).pixels - 0.25).max() < 0.01
        assert image_info(out).width == 4
    assert len(_only(folder)) == 3


# ----------------------------------------------------------------- document, masks, info


def test_with_pixels_resizes_alpha_after_upscale() -> None:
    alpha = np.zeros((4, 6), np.float32)
    alpha[:, 3:] = 1.0
    doc = _doc(np.zeros((4, 6, 3)), alpha)
    up = doc.with_pixels(np.zeros((8, 12, 3), np.float32))
    assert up.alpha is not None and up.alpha.shape == (8, 12) and up.alpha.dtype == np.float32
    assert up.alpha.min() >= 0.0 and up.alpha.max() <= 1.0
    assert up.alpha[:, :4].max() == 0.0 and up.alpha[:, 8:].min() == 1.0
    assert doc.with_pixels(np.zeros((4, 6, 3), np.float32), alpha=None).alpha is None
    assert doc.with_pixels(np.zeros((4, 6, 3), np.float32), alpha=KEEP).alpha is doc.alpha
    with pytest.raises(ParameterError):
        doc.with_pixels(np.zeros((4, 6, 2), np.float32))
    with pytest.raises(ParameterError):
        ImageDocument(np.zeros((2, 2, 3)), None, 8, None, None, "PNG")  # float64
    assert (up.width, up.height, up.channels, up.megapixels) == (12, 8, 3, 96 / 1e6)


def test_read_mask(tmp_path: Path) -> None:
    gray = np.array([[0, 255, 128]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png", 3, 1)
    assert mask.dtype == np.float32 and mask.shape == (1, 3)
    assert mask[0].tolist() == pytest.approx([0.0, 1.0, 128 / 255])
    with pytest.raises(ParameterError, match="3x1 but the image is 4x4"):
        read_mask(tmp_path / "m.png", 4, 4)
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[..., 3] = [0, 51, 255]
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert read_mask(tmp_path / "a.png", 3, 1)[0].tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_image_info_reports_16bit_and_alpha(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(cv2.imencode(".png", np.dstack([_u16_pattern(3, 5, 3), _u16_pattern(3, 5, 1)]))[1].tobytes())
    info = image_info(path)
    assert (info.format, info.width, info.height, info.channels, info.has_alpha, info.bit_depth) == (
        "PNG", 5, 3, 3, True, 16,
    )


def test_write_image_without_warnings_is_silent(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_image(tmp_path / "a.png", _doc(np.zeros((2, 2, 3))))


def test_memory_decoding_matches_file_decoding(tmp_path: Path) -> None:
    from engine.io import decode_image

    Image.fromarray(_asymmetric()).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    assert np.array_equal(decode_image(data).pixels, read_image(tmp_path / "a.png").pixels)
    buf = io.BytesIO(data)
    assert decode_image(buf.getvalue(), source="clip").source == Path("clip")
    assert os.fspath(read_image(str(tmp_path / "a.png")).source) == str(tmp_path / "a.png")


def test_exif_kept_in_16bit_png_and_webp(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "ClarityCam"
    doc16 = ImageDocument(_u16_pattern(3, 4, 3) / np.float32(65535), None, 16, None, exif.tobytes(), "PNG")
    for name in ("a.png", "a.webp", "a.jpg"):
        out = write_image(tmp_path / name, doc16)
        assert Image.open(out).getexif().get(0x010F) == "ClarityCam", name
        assert read_image(out).exif is not None
    report = write_image_report(tmp_path / "b.tif", doc16)
    assert report.bit_depth == 16 and any("EXIF is not written" in w for w in report.warnings)


def test_multipage_tiff_reads_first_page_with_warning(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (3, 2), c) for c in ((255, 0, 0), (0, 255, 0))]
    pages[0].save(tmp_path / "m.tif", save_all=True, append_images=pages[1:])
    doc = read_image(tmp_path / "m.tif")
    assert doc.pixels[0, 0].tolist() == [1.0, 0.0, 0.0]
    assert len(doc.warnings) == 1 and "first frame" in doc.warnings[0]
    assert image_info(tmp_path / "m.tif").frames == 2


@pytest.mark.parametrize("options", [{"quality": 80}, {"lossless": True}, {"quality": 80, "exif": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"}])
def test_webp_size_read_from_header(tmp_path: Path, options: dict[str, object]) -> None:
    from engine.imageio.sniff import quick_size

    Image.new("RGB", (23, 17), (10, 20, 30)).save(tmp_path / "a.webp", **options)
    data = (tmp_path / "a.webp").read_bytes()
    assert quick_size(data, "WEBP") == (23, 17)
    assert read_image(tmp_path / "a.webp", max_pixels=391).width == 23
    with pytest.raises(ImageTooLargeError, match="23x17"):
        read_image(tmp_path / "a.webp", max_pixels=390)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp", ".bmp", ".jpg"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_gray_and_alpha_across_formats(tmp_path: Path, ext: str, with_alpha: bool) -> None:
    gray = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4, 1)
    alpha = np.linspace(1, 0, 12, dtype=np.float32).reshape(3, 4) if with_alpha else None
    doc = ImageDocument(gray, alpha, 8, None, None, "PNG")
    report = write_image_report(tmp_path / f"a{ext}", doc, quality=100)
    back = read_image(report.path)
    flattens = with_alpha and ext in (".jpg", ".bmp")
    assert (back.alpha is not None) == (with_alpha and not flattens)
    assert any("flattened onto white" in w for w in report.warnings) == flattens
    expected = gray[..., 0] if not flattens else gray[..., 0] * alpha + (1 - alpha)  # type: ignore[operator]
    tol = 0.03 if ext == ".jpg" else 0.5 / 255 + 1e-6
    assert np.abs(back.pixels.mean(axis=2) - expected).max() <= tol
    assert back.channels == (3 if ext == ".webp" else 1)  # WebP is always colour
    if back.alpha is not None:
        assert np.abs(back.alpha - alpha).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_orientation_turns_alpha_with_pixels(tmp_path: Path, orientation: int) -> None:
    rgba = np.zeros((3, 5, 4), np.uint8)
    rgba[..., :3] = _asymmetric()
    rgba[..., 3] = np.arange(15).reshape(3, 5) * 17
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgba, "RGBA").save(tmp_path / "o.png", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    doc = read_image(tmp_path / "o.png")
    assert doc.alpha is not None and doc.alpha.shape == (5, 3)
    assert np.array_equal(quantize(doc.alpha, 8), expected[..., 3])
    assert np.array_equal(quantize(doc.pixels, 8), expected[..., :3])


def test_tiff_header_with_zero_width_is_refused_by_image_info(tmp_path: Path) -> None:
    """Found by ``clarity fuzz --target info``: image_info reported a 0-pixel-wide TIFF."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, _u16_pattern(4, 5, 3).astype(np.uint8), photometric="rgb")
    path = tmp_path / "zero.tif"
    path.write_bytes(_patch_tiff_tags(buf.getvalue(), {256: 0}))  # ImageWidth
    with pytest.raises(UnsupportedImageError, match="zero.tif.*empty size 0x4"):
        image_info(path)
    with pytest.raises(UnsupportedImageError, match="zero.tif"):
        read_image(path)
