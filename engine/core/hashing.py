"""File hashing: the one place that computes a file's sha256.

- :func:`sha256_file` reads the file every time (batch provenance, export, `clarity plugin hash`);
- :func:`sha256_file_cached` memoises by (resolved path, size, mtime_ns), for weights that are
  verified before every load; a rewritten file gets a new mtime and so is hashed again.

Both read in 1 MiB chunks and return the lowercase hex digest.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from engine.core.files import open_regular

CHUNK = 1 << 20
"""Bytes read per step."""

_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of the bytes of ``path`` (raises :class:`OSError` if it cannot be read).

    Only regular files are read: a FIFO, device or socket raises
    :class:`engine.core.files.NotRegularFileError` without blocking.
    """
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file_cached(path: Path | str) -> str:
    """:func:`sha256_file`, cached by (resolved path, size, mtime_ns), so rehashing is free."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    value = sha256_file(path)
    with _lock:
        _cache[key] = value
    return value
