"""Issue 19 on the engine: non-regular files, header-first reading, warnings, the sanitiser."""

from __future__ import annotations

import io
import os
import socket
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.core.errors import ImageTooLargeError, ParameterError, UnsupportedImageError
from engine.core.files import NotRegularFileError, open_regular, regular_file_problem
from engine.core.text import one_line, printable
from engine.imageio import reader
from engine.io import read_image, read_mask
from tests.bounded import bounded


# ------------------------------------------------------------------ engine.core.files
def test_open_regular_refuses_every_special_file_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    os.symlink("/dev/zero", tmp_path / "zero")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        for name, kind in [("pipe", "a named pipe (FIFO)"), ("zero", "a device"), ("sock", "a socket"), (".", "a folder")]:
            with pytest.raises(NotRegularFileError) as caught:
                bounded(lambda name=name: open_regular(tmp_path / name))
            assert caught.value.strerror == f"it is {kind}, not a regular file; skipped"
            assert regular_file_problem(tmp_path / name) == kind
    finally:
        sock.close()
    (tmp_path / "ok").write_bytes(b"data")
    with open_regular(tmp_path / "ok") as fh:
        assert fh.read() == b"data"
    assert regular_file_problem(tmp_path / "ok") is None and regular_file_problem(tmp_path / "absent") is None


# ------------------------------------------------------------------ item 3: header first, never whole files
def test_fifo_and_device_inputs_and_masks_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(UnsupportedImageError, match=r"pipe.png': it is a named pipe \(FIFO\), not a regular file"):
        bounded(lambda: read_image(tmp_path / "pipe.png"))
    with pytest.raises(UnsupportedImageError, match=r"'/dev/zero': it is a device, not a regular file"):
        bounded(lambda: read_mask("/dev/zero", 4, 4))
    with pytest.raises(UnsupportedImageError, match=r"named pipe"):
        bounded(lambda: read_mask(tmp_path / "pipe.png", 4, 4))


class _CountingFile(io.BufferedReader):
    read_total = 0

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        _CountingFile.read_total += len(data)
        return data


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[_CountingFile]:
    real = reader.open_regular

    def counting(path):  # type: ignore[no-untyped-def]
        handle = real(path)
        raw = handle.raw
        handle.detach()
        return _CountingFile(raw)

    _CountingFile.read_total = 0
    monkeypatch.setattr(reader, "open_regular", counting)
    return _CountingFile


def test_huge_non_image_is_refused_from_its_first_bytes(tmp_path: Path, counted: type[_CountingFile]) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:
        fh.write(b"not an image at all\n" * 8)
        fh.truncate(4 * 1024**3)  # 4 GiB, sparse
    with pytest.raises(UnsupportedImageError, match=r"it contains text, not image data"):
        read_image(big)
    assert counted.read_total <= reader.HEAD_BYTES


def test_file_larger_than_any_image_within_the_limit_is_refused_unread(tmp_path: Path,
                                                                        counted: type[_CountingFile]) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (5, 5)).save(buf, "PNG")
    path = tmp_path / "padded.png"
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
        fh.truncate(80 * 1024**2)  # 80 MiB: more than 100 px can ever take (+64 MiB of metadata)
    with pytest.raises(UnsupportedImageError, match=r"the file is 0.1 GiB, more than any image within the limit of 0.0001 megapixels"):
        read_image(path, max_pixels=100)
    assert counted.read_total <= reader.HEAD_BYTES
    with pytest.raises(ImageTooLargeError):  # a claimed size over the limit: refused from the header too
        read_image(path, max_pixels=10)


# ------------------------------------------------------------------ item 11: warnings
@pytest.mark.parametrize(("dtype", "extrasamples", "note"), [
    (np.uint8, [0, 0], "TIFF with 5 channels: 2 extra channels dropped (only 3 loaded)"),
    (np.uint16, [0, 0], "TIFF with 5 channels: 1 extra channel dropped (only 4 loaded)"),
])
def test_dropped_tiff_channels_are_warned(tmp_path: Path, dtype: type, extrasamples: list[int], note: str) -> None:
    import tifffile

    path = tmp_path / "five.tif"
    tifffile.imwrite(path, np.full((6, 7, 5), 100, dtype), photometric="rgb", extrasamples=extrasamples)
    doc = read_image(path)
    assert doc.channels == 3 and note in doc.warnings


def _corrupt_exif_jpeg(path: Path) -> None:
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, 1000, 5000) + struct.pack("<I", 0)  # Make: 1000 bytes past the end
    exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path, "JPEG", exif=exif)


def test_corrupt_exif_is_a_document_warning_not_a_python_warning(tmp_path: Path) -> None:
    path = tmp_path / "exif.jpg"
    _corrupt_exif_jpeg(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = read_image(path)
    assert [w for w in caught if not issubclass(w.category, ResourceWarning)] == []
    assert doc.warnings == ("metadata problem ignored: Tag data larger than file. Skipping tag 271",)


def test_apply_prints_load_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main
    from tests.plugin_factory import write_tiny_plugin

    write_tiny_plugin(tmp_path / "plugins", "tiny")
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(tmp_path / "plugins"))
    import engine.api

    monkeypatch.setattr(engine.api, "_default_registry", None)
    frames = [Image.new("RGB", (12, 10), (i * 60, 20, 30)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert main(["apply", str(tmp_path / "anim.gif"), str(tmp_path / "o.png"), "--filter", "tiny"]) == 0
    err = capsys.readouterr().err
    assert "clarity: warning: animated GIF with 3 frames: only the first frame was loaded" in err
    os.mkfifo(tmp_path / "mask.png")
    code = bounded(lambda: main(["apply", str(tmp_path / "anim.gif"), str(tmp_path / "o2.png"), "--filter", "tiny",
                                  "--mask", str(tmp_path / "mask.png")]))
    assert code == 2 and "named pipe" in capsys.readouterr().err


# ------------------------------------------------------------------ item 6: the sanitiser
def test_printable_escapes_every_terminal_control() -> None:
    hostile = "a\x1b]0;title\x07b\x1b[2J\rc\x00d\u202ee\x9bf\u2066g"
    assert printable(hostile) == "a\\x1b]0;title\\x07b\\x1b[2J\\x0dc\\x00d\\u202ee\\x9bf\\u2066g"
    assert printable("photo 写真 ünï\tx\ny") == "photo 写真 ünï\tx\ny"  # text is untouched
    assert one_line("two\nlines\x1b  and\ttabs") == "two lines\\x1b and tabs"


def test_cli_error_lines_are_escaped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from engine.cli.main import main

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    assert main(["apply", str(tmp_path / "a.png"), str(tmp_path / "o.png"), "--filter", "x\x1b]0;pwned\x07\x1b[2J"]) == 2
    err = capsys.readouterr().err
    assert "x\\x1b]0;pwned\\x07\\x1b[2J" in err and "\x1b" not in err and err.count("\n") == 1


def test_out_of_range_value_is_shown_exactly() -> None:
    from plugins.api import ParamSpec, ParamType
    from plugins.params import _check_range

    spec = ParamSpec(name="amount", type=ParamType.FLOAT, minimum=0.0, maximum=2.0, default=1.0)
    with pytest.raises(ParameterError, match=r"is 2.0000001, outside its range 0..2"):
        _check_range(spec, 2.0000001, "parameter 'amount'")


def test_hostile_fuzz_target_finds_no_crash(tmp_path: Path) -> None:
    from engine.cli.fuzz_hostile import KINDS, run_hostile_fuzz

    report = run_hostile_fuzz(seconds=2.0, rng_seed=3, out_dir=tmp_path / "out")
    assert report.runs >= len(KINDS) and report.crashes == ()
    assert report.ok + report.rejected == report.runs


def test_hostile_fuzz_groups_and_saves_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.cli.fuzz_hostile as hostile

    def crashing(kind: str, rng: object, scratch: Path, index: int) -> tuple[bool, bytes]:
        raise KeyError(f"boom {kind}")

    monkeypatch.setattr(hostile, "_attempt", crashing)
    report = hostile.run_hostile_fuzz(seconds=0.3, rng_seed=1, out_dir=tmp_path)
    assert len(report.crashes) == 1 and report.crashes[0].kind == "KeyError"
    assert report.crashes[0].count == report.runs > 0 and report.ok == report.rejected == 0
    sample = report.crashes[0].sample
    assert sample is not None and "boom" in sample.with_suffix(".txt").read_text()
    assert report.crashes[0].mutation in hostile.KINDS
