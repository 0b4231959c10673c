"""Crash-safe file output: write to a temporary file in the same folder, then rename it into place.

A reader never sees a half-written file, a failed write (disk full, permission denied, an
exception in the encoder) leaves the existing target untouched and no temporary file behind.

Contract of :func:`atomic_output`:

- it yields a fresh, empty temporary path in the target's folder whose name keeps the
  target's extension (so writers that infer the format from the extension still work);
- on normal exit the temporary file is fsync'ed and renamed over the target with
  :func:`os.replace` (``overwrite=True``) or hard-linked to it, which fails atomically if the
  target exists (``overwrite=False``, raising :class:`~engine.core.errors.ImageWriteError`);
- on *any* exception the temporary file is removed and the exception propagates; an
  :class:`OSError` (from the body or from the rename) is turned into an ``ImageWriteError``
  whose message names the file and says how to fix the problem.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.core.errors import ImageWriteError

__all__ = ["atomic_output", "atomic_write_bytes", "atomic_write_text", "describe_os_error", "give_default_mode"]

_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk is full; free some space or choose another folder",
    errno.EDQUOT: "your disk quota is exhausted; free some space or choose another folder",
    errno.EACCES: "permission denied; choose a folder you can write to or change its permissions",
    errno.EPERM: "operation not permitted; choose a folder you can write to or change its permissions",
    errno.EROFS: "the folder is on a read-only file system; choose another folder",
    errno.ENAMETOOLONG: "the file name is too long; choose a shorter name",
    errno.ENOENT: "the folder does not exist; create it first",
    errno.EISDIR: "a folder with that name exists; choose another file name",
    errno.EIO: "an input/output error occurred; check the disk or choose another folder",
}


def describe_os_error(exc: OSError, path: Path) -> str:
    """A one-line message for a failed write of ``path`` that says how to fix it."""
    hint = _HINTS.get(exc.errno or -1, exc.strerror or str(exc) or type(exc).__name__)
    return f"cannot write '{path}': {hint} ({exc.strerror or type(exc).__name__})"


def _temp_name(path: Path) -> Path:
    """A hidden sibling of ``path`` with the same extension, e.g. ``.~photo.1a2b3c4d.png``."""
    return path.with_name(f".~{path.stem}.{secrets.token_hex(4)}{path.suffix}")


def _create_temp(path: Path) -> Path:
    """Create an empty temporary file next to ``path`` (mode 0666 minus the umask)."""
    for _ in range(16):
        tmp = _temp_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise ImageWriteError(f"cannot write '{path}': could not create a unique temporary file in {path.parent}")


def give_default_mode(path: Path) -> int:
    """Give ``path`` the permissions a new file gets in its folder (0666 minus the umask, e.g. 0644).

    For files written by libraries that create them private (``safetensors.torch.save_file``
    writes mode 0600, ``tempfile.mkstemp`` too). The mode is read from a probe file created with
    0666 next to ``path`` (so the umask and the folder's default ACL apply) without touching the
    process umask, which other threads share. Returns the mode set.
    """
    path = Path(path)
    for _ in range(16):
        probe = path.with_name(f".~mode.{secrets.token_hex(4)}")
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
            _remove_quietly(probe)
        os.chmod(path, mode)
        return mode
    raise OSError(f"cannot create a probe file next to {path}")  # pragma: no cover


def _fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (a no-op where the platform cannot)."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX only; failures are harmless and ignored)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - nothing more we can do
        pass


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` to ``path`` atomically."""
    if overwrite:
        try:
            if path.is_file():
                os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        except OSError:
            pass
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ImageWriteError(
            f"cannot write '{path}': the file already exists; choose another name or allow overwriting"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # File system without hard links (FAT, some network shares): best-effort check, then rename.
        if os.path.lexists(path):
            raise ImageWriteError(
                f"cannot write '{path}': the file already exists; choose another name or allow overwriting"
            ) from None
        os.replace(tmp, path)
        return
    _remove_quietly(tmp)


@contextmanager
def atomic_output(path: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it into place atomically.

    Raises :class:`~engine.core.errors.ImageWriteError` when the folder is missing or not writable,
    when the disk fills up (any ``OSError`` during the body or the rename), or when
    ``overwrite`` is false and ``path`` already exists. The temporary file never survives.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageWriteError(f"cannot write '{path}': a folder with that name exists; choose a file name")
    if not path.parent.is_dir():
        raise ImageWriteError(f"cannot write '{path}': the folder '{path.parent}' does not exist; create it first")
    if not overwrite and os.path.lexists(path):
        raise ImageWriteError(
            f"cannot write '{path}': the file already exists; choose another name or allow overwriting"
        )
    try:
        tmp = _create_temp(path)
    except OSError as exc:
        raise ImageWriteError(describe_os_error(exc, path)) from exc
    try:
        yield tmp
        _fsync_file(tmp)
        _publish(tmp, path, overwrite)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise ImageWriteError(describe_os_error(exc, path)) from exc
    finally:
        _remove_quietly(tmp)


def _write_all(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (tests monkeypatch this to simulate a full disk)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_output` (same errors, same guarantees)."""
    with atomic_output(Path(path), overwrite=overwrite) as tmp:
        _write_all(tmp, data)


def atomic_write_text(path: Path, text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` as UTF-8 through :func:`atomic_output` (same errors, same guarantees)."""
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
