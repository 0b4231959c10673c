"""Opening files that must be regular files: never block on a FIFO, never read a device.

A named pipe (FIFO) blocks ``open()`` until a writer appears; a link to ``/dev/zero`` never
ends; a socket cannot be read. Every file the engine or a plugin check reads (inputs, masks,
provenance records, weights, manifests) goes through :func:`open_regular`: it opens with
``O_NONBLOCK`` (so a FIFO cannot block), checks with ``fstat`` on the open descriptor (so a file
swapped for a FIFO after a ``stat`` is still caught) and refuses anything but a regular file
with :class:`NotRegularFileError`, an :class:`OSError` whose ``strerror`` is one line that says
what the file is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["NotRegularFileError", "file_kind", "is_regular_file", "open_regular", "regular_file_problem"]


class NotRegularFileError(OSError):
    """The path exists but is a FIFO, a device, a socket or a folder, not a regular file."""

    def __init__(self, path: Path | str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"it is {kind}, not a regular file; skipped", str(path))
        self.kind = kind


def file_kind(mode: int) -> str:
    """Words for a ``st_mode``: ``"a named pipe (FIFO)"``, ``"a device"``, ..., ``"a regular file"``."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def regular_file_problem(path: Path | str) -> str | None:
    """``None`` for a regular file (links followed) or a missing path, else what it is instead."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def is_regular_file(path: Path | str) -> bool:
    """True for an existing regular file (links followed); never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path | str) -> BinaryIO:
    """Open ``path`` for binary reading, refusing (without blocking) anything but a regular file.

    Raises :class:`NotRegularFileError` for a FIFO, device, socket or folder, and the usual
    :class:`OSError` subclasses (``FileNotFoundError``, ``PermissionError``...) otherwise.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise NotRegularFileError(path, "a folder") from None
    except (FileNotFoundError, PermissionError):
        raise
    except OSError:  # e.g. ENXIO for a socket: say what it is when it is not a regular file
        if (kind := regular_file_problem(path)) is not None:
            raise NotRegularFileError(path, kind) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, file_kind(mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
