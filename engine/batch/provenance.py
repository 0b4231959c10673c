"""Provenance records: what produced an output, so a re-run can tell complete from stale.

Every batch output ``OUT/x/photo.png`` gets a record in the hidden folder next to it,
``OUT/x/.clarity/photo.png.json`` (one hidden folder per output folder, one small file per
output, so concurrent writers, local threads or Ray tasks, never share a file)::

    {"clarity_sidecar": 1,
     "recipe": {"steps": [{"plugin_id", "version", "weights": {name: sha256}, "params": {...}}],
                "strength": 1.0, "precision": "auto", "output_format": "png"},
     "source": {"path", "sha256", "size", "mtime_ns"},
     "output": {"sha256", "size"}}

The record is written *before* the output is renamed into place, so a crash at any point
leaves no output (redone), a complete pair, or an output whose hash differs from its record.
An output whose hash differs from its record was changed after we wrote it (a user's edit)
or is the file an interrupted ``--overwrite`` run was replacing: it is never replaced
without ``overwrite``. Records of older versions (``photo.png.clarity.json`` beside the
output) are still read, and removed when the output is rewritten.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.batch.job import BatchJob
from engine.batch.walk import RECORD_DIR, RECORD_SUFFIX, SIDECAR_SUFFIX
from engine.core.errors import PluginError
from engine.core.files import is_regular_file, open_regular
from engine.core.hashing import sha256_file

SIDECAR_VERSION = 1
MAX_RECORD_BYTES = 1 << 20
"""A provenance record larger than this is corrupt (they are about 1 KiB)."""


def record_path(output: Path) -> Path:
    """The provenance record of ``output``: ``<folder>/.clarity/<name>.json``."""
    return output.parent / RECORD_DIR / (output.name + RECORD_SUFFIX)


def legacy_sidecar_path(output: Path) -> Path:
    """Where older versions kept the record: ``output`` + ``.clarity.json`` beside it."""
    return output.with_name(output.name + SIDECAR_SUFFIX)


sidecar_path = record_path  # the name used before records moved into the hidden folder


@dataclass(frozen=True)
class SourceStamp:
    """Identity of an input file at the time it was read."""

    sha256: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> SourceStamp:
        """Stamp ``path`` now (stat, then hash)."""
        st = os.stat(path)
        return cls(sha256=sha256_file(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


def _jsonable(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


@dataclass(frozen=True)
class Recipe:
    """Everything about *how* an output is computed; a change makes existing outputs stale.

    ``steps`` is a JSON-ready tuple of dicts (plugin id, version, weights sha256 by name,
    resolved parameters). Tile size and device are not part of it (they do not change the
    result beyond float rounding); strength, precision, self-ensemble passes and output format
    are. ``ensemble`` is written only when it is not 1, so records from before it existed
    still match a plain run.
    """

    steps: tuple[Mapping[str, Any], ...]
    strength: float
    precision: str
    output_format: str | None
    ensemble: int = 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stable key order)."""
        record: dict[str, Any] = {
            "steps": [dict(s) for s in self.steps],
            "strength": self.strength,
            "precision": self.precision,
            "output_format": self.output_format,
        }
        if self.ensemble != 1:
            record["ensemble"] = self.ensemble
        return record


def build_recipe(job: BatchJob) -> Recipe:
    """Look up every step's plugin (version, weights hashes) and validate its parameters.

    Raises :class:`PluginError` for an unknown or unusable plugin and
    :class:`ParameterError` for a bad parameter, before any file is touched.
    """
    from engine.api import get_registry

    registry = get_registry()
    steps: list[Mapping[str, Any]] = []
    for step in job.steps:
        try:
            info = registry.info(step.plugin_id)
        except KeyError as exc:
            raise PluginError(step.plugin_id, "no such plugin; run 'clarity list' to see the installed ones") from exc
        if info is None or info.manifest is None:
            raise PluginError(step.plugin_id, "no such plugin; run 'clarity list' to see the installed ones")
        if not info.usable:
            raise PluginError(step.plugin_id, f"cannot be used ({info.status.value}): {info.reason}")
        manifest = info.manifest
        params = _resolve(manifest, step.params)
        steps.append(
            {
                "plugin_id": manifest.id,
                "version": manifest.version,
                "weights": {w.name: w.sha256 for w in manifest.weights},
                "params": {k: _jsonable(v) for k, v in sorted(params.items())},
            }
        )
    return Recipe(
        steps=tuple(steps),
        strength=float(job.options.strength),
        precision=str(_jsonable(job.options.precision)),
        output_format=job.output_format,
        ensemble=job.options.ensemble,
    )


def _resolve(manifest: Any, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Validated parameter values (all manifest parameters) via ``plugins.params.resolve_params``."""
    from plugins.params import resolve_params

    values = resolve_params(manifest, params)
    return dict(getattr(values, "values", values))


class OutputState(str, enum.Enum):
    """What a re-run finds at an output path."""

    ABSENT = "absent"  # no output (a record without its output is an interrupted write): write it
    COMPLETE = "complete"  # output matches its record, source and recipe unchanged: skip
    MODIFIED = "modified"  # output differs from its record (edited by someone): keep unless overwrite
    STALE = "stale"  # made from another source or with other settings: keep unless overwrite
    FOREIGN = "foreign"  # an output exists without a valid record of ours: someone's file


def _read_json_record(path: Path) -> dict[str, Any] | None:
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(raw) > MAX_RECORD_BYTES:
        raise ValueError(f"{path} is too large for a provenance record")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or data.get("clarity_sidecar") != SIDECAR_VERSION:
        raise ValueError(f"{path} is not a Clarity Studio provenance record")
    return data


def read_record(output: Path) -> dict[str, Any] | None:
    """The parsed record of ``output`` (the hidden folder's, else a legacy sidecar's); ``None`` if
    there is none; raises ``ValueError``/``OSError`` when it is corrupt or not a regular file."""
    data = _read_json_record(record_path(output))
    return data if data is not None else _read_json_record(legacy_sidecar_path(output))


read_sidecar = read_record  # the name used before records moved into the hidden folder


def check_output(source: Path, output: Path, recipe: Recipe) -> OutputState:
    """Classify ``output`` for resume (hashes the output, and the source when its size matches).

    Never opens anything but regular files: an output that is a FIFO or device is FOREIGN.
    """
    exists = os.path.lexists(output)
    try:
        data = read_record(output)
    except (ValueError, OSError, UnicodeDecodeError, RecursionError):
        data = None  # a corrupt record proves nothing
    if not exists:
        return OutputState.ABSENT
    if data is None or not is_regular_file(output) or os.path.islink(output):
        return OutputState.FOREIGN
    try:
        out_rec, src_rec, rec = data["output"], data["source"], data["recipe"]
        try:
            if sha256_file(output) != out_rec["sha256"]:
                return OutputState.MODIFIED
        except OSError:
            return OutputState.FOREIGN
        if rec != json.loads(json.dumps(recipe.to_json())):
            return OutputState.STALE
        st = os.stat(source)
        if st.st_size != src_rec["size"]:
            return OutputState.STALE
        if st.st_mtime_ns != src_rec["mtime_ns"] and sha256_file(source) != src_rec["sha256"]:
            return OutputState.STALE
    except (KeyError, TypeError):
        return OutputState.FOREIGN
    except OSError:  # the source vanished or is not a regular file: the read stage says why
        return OutputState.STALE
    return OutputState.COMPLETE


def sidecar_document(source: Path, stamp: SourceStamp, recipe: Recipe, output_sha256: str, output_size: int) -> dict[str, Any]:
    """The JSON content of a sidecar."""
    return {
        "clarity_sidecar": SIDECAR_VERSION,
        "recipe": recipe.to_json(),
        "source": {"path": str(source), "sha256": stamp.sha256, "size": stamp.size, "mtime_ns": stamp.mtime_ns},
        "output": {"sha256": output_sha256, "size": output_size},
    }


def write_record(output: Path, document: dict[str, Any]) -> Path:
    """Write ``output``'s record atomically into the hidden folder (created); return its path."""
    path = record_path(output)
    try:
        path.parent.mkdir(exist_ok=True)
    except OSError as exc:
        from engine.core.atomic import describe_os_error
        from engine.core.errors import ImageWriteError

        raise ImageWriteError(describe_os_error(exc, path)) from exc
    write_json_atomic(path, document)
    return path


def remove_legacy_sidecar(output: Path) -> None:
    """Delete the old-style ``<output>.clarity.json`` (once the record lives in the hidden folder)."""
    path = legacy_sidecar_path(output)
    try:
        if is_regular_file(path) and not os.path.islink(path):
            path.unlink()
    except OSError:
        pass


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as JSON to ``path`` through a temp file + rename (``engine.core.atomic``)."""
    from engine.core.atomic import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"), overwrite=True)


__all__ = [
    "OutputState",
    "Recipe",
    "SourceStamp",
    "build_recipe",
    "check_output",
    "legacy_sidecar_path",
    "read_record",
    "read_sidecar",
    "record_path",
    "remove_legacy_sidecar",
    "sha256_file",
    "sidecar_document",
    "sidecar_path",
    "write_json_atomic",
    "write_record",
]
