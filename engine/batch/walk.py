"""Finding the input images of a batch: a sorted, deterministic walk of the input folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.core.errors import ParameterError

SIDECAR_SUFFIX = ".clarity.json"
"""Suffix of the provenance sidecar older versions wrote next to every output (``photo.png.clarity.json``)."""

RECORD_DIR = ".clarity"
"""Hidden folder, in every output folder, holding one provenance record per output."""

RECORD_SUFFIX = ".json"
"""A record is ``<output folder>/.clarity/<output name>.json``."""

TEMP_MARKER = ".clarity-tmp-"
"""Substring of the names of temporary files written by a batch (removed on any failure)."""

_FALLBACK_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
)

READ_ONLY_EXTENSIONS: frozenset[str] = frozenset({".gif"})
"""Extensions ``engine.io`` reads (first frame) but cannot write: such inputs get PNG outputs
when the batch keeps each input's format."""


def writable_extensions() -> frozenset[str]:
    """Lower-case extensions (with dot) ``engine.io.write_image`` accepts."""
    try:
        from engine.io import SUPPORTED_EXTENSIONS
    except ImportError:  # pragma: no cover - engine.io not written yet
        return _FALLBACK_EXTENSIONS
    return frozenset(e.lower() if e.startswith(".") else "." + e.lower() for e in SUPPORTED_EXTENSIONS)


def supported_extensions() -> frozenset[str]:
    """Lower-case extensions (with dot) of the files a batch picks up: writable ones plus GIF."""
    return writable_extensions() | READ_ONLY_EXTENSIONS


def is_batch_artifact(path: Path) -> bool:
    """True for files a batch writes besides images: sidecars and temporary files."""
    return path.name.endswith(SIDECAR_SUFFIX) or TEMP_MARKER in path.name


def walk_inputs(input_dir: Path, *, recursive: bool, exclude: Iterable[Path] = ()) -> list[Path]:
    """Image files under ``input_dir`` in sorted order (folders depth-first, names sorted).

    Skips hidden files and folders (name starting with ``.``), files whose extension the
    engine cannot read, batch artefacts (sidecars, temp files), outputs of an earlier batch
    (a file with a record in ``.clarity/`` or a ``.clarity.json`` sidecar next to it), folder
    symlinks (no loops), and
    everything under the ``exclude`` folders (the output and report folders when they lie
    inside the input folder).
    """
    root = Path(input_dir)
    if not root.exists():
        raise ParameterError(f"input folder '{root}' does not exist; check the path")
    if not root.is_dir():
        raise ParameterError(f"input '{root}' is not a folder; give the folder that holds the images")
    excluded = {os.path.realpath(p) for p in exclude}
    extensions = supported_extensions()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and os.path.realpath(here / d) not in excluded and not (here / d).is_symlink()
        )
        if not recursive:
            dirnames[:] = []
        names = set(filenames)
        if (here / RECORD_DIR).is_dir():
            try:
                recorded = {n[: -len(RECORD_SUFFIX)] for n in os.listdir(here / RECORD_DIR) if n.endswith(RECORD_SUFFIX)}
            except OSError:
                recorded = set()
        else:
            recorded = set()
        for name in sorted(filenames):
            path = here / name
            if name.startswith(".") or is_batch_artifact(path):
                continue
            if path.suffix.lower() not in extensions:
                continue
            if name + SIDECAR_SUFFIX in names or name in recorded:  # an output of an earlier batch written here
                continue
            found.append(path)
    return found
