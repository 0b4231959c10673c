"""engine.core.atomic: temp file + rename, no-clobber, cleanup on every failure."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

import engine.core.atomic as atomic
from engine.core.atomic import atomic_output, atomic_write_bytes
from engine.core.errors import ImageWriteError


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_new_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    atomic_write_bytes(target, b"hello", overwrite=False)
    assert target.read_bytes() == b"hello"
    assert _names(tmp_path) == ["out.png"]


def test_temp_is_hidden_sibling_with_same_extension(tmp_path: Path) -> None:
    target = tmp_path / "photo.tiff"
    with atomic_output(target, overwrite=True) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".tiff" and tmp.name.startswith(".~photo.")
        assert tmp.exists() and tmp.stat().st_size == 0
        tmp.write_bytes(b"x")
        assert not target.exists()  # nothing visible before success
    assert target.read_bytes() == b"x"
    assert _names(tmp_path) == ["photo.tiff"]


def test_overwrite_replaces_and_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.jpg"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_no_clobber_refuses_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"precious")
    with pytest.raises(ImageWriteError, match="already exists"):
        atomic_write_bytes(target, b"new", overwrite=False)
    assert target.read_bytes() == b"precious"
    assert _names(tmp_path) == ["a.png"]


def test_no_clobber_detects_target_created_during_write(tmp_path: Path) -> None:
    target = tmp_path / "race.png"
    with pytest.raises(ImageWriteError, match="already exists"):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_bytes(b"mine")
            target.write_bytes(b"theirs")  # another process wins the race
    assert target.read_bytes() == b"theirs"
    assert _names(tmp_path) == ["race.png"]


def test_exception_in_body_removes_temp_and_propagates(tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="encoder broke"):
        with atomic_output(target, overwrite=True) as tmp:
            tmp.write_bytes(b"partial")
            raise ValueError("encoder broke")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["a.png"]


def test_disk_full_becomes_image_write_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.png"
    target.write_bytes(b"old")

    def full(path: Path, data: bytes) -> None:
        path.write_bytes(data[:2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_write_all", full)
    with pytest.raises(ImageWriteError, match="disk is full") as info:
        atomic_write_bytes(target, b"new data", overwrite=True)
    assert str(target) in str(info.value)
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["a.png"]


def test_unwritable_folder_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(path: Path) -> Path:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(atomic, "_create_temp", denied)
    with pytest.raises(ImageWriteError, match="permission denied"):
        atomic_write_bytes(tmp_path / "a.png", b"x", overwrite=True)
    assert _names(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_folder(tmp_path: Path) -> None:  # pragma: no cover - not run as root
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"old")
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(ImageWriteError, match="permission denied"):
            atomic_write_bytes(folder / "a.png", b"new", overwrite=True)
        assert (folder / "a.png").read_bytes() == b"old"
        assert _names(folder) == ["a.png"]
    finally:
        os.chmod(folder, 0o755)


def test_missing_folder_and_folder_target(tmp_path: Path) -> None:
    with pytest.raises(ImageWriteError, match="does not exist"):
        atomic_write_bytes(tmp_path / "nope" / "a.png", b"x", overwrite=True)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageWriteError, match="folder"):
        atomic_write_bytes(tmp_path / "dir.png", b"x", overwrite=True)


def test_no_hard_links_falls_back_to_checked_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(atomic.os, "link", no_link)
    target = tmp_path / "a.png"
    atomic_write_bytes(target, b"one", overwrite=False)
    assert target.read_bytes() == b"one"
    with pytest.raises(ImageWriteError, match="already exists"):
        atomic_write_bytes(target, b"two", overwrite=False)
    assert target.read_bytes() == b"one"
    assert _names(tmp_path) == ["a.png"]
