"""Provenance sidecars: what produced an output, so a re-run can tell complete from stale.

Every batch output ``photo.png`` gets ``photo.png.clarity.json``::

    {"clarity_sidecar": 1,
     "recipe": {"steps": [{"plugin_id", "version", "weights": {name: sha256}, "params": {...}}],
                "strength": 1.0, "precision": "auto", "output_format": "png"},
     "source": {"path", "sha256", "size", "mtime_ns"},
     "output": {"sha256", "size"}}

The sidecar is written *before* the output is renamed into place, so a crash at any point
leaves either no output, or an output whose hash does not match its sidecar (partial: redone),
or a complete pair. An existing output without a sidecar is someone else's file.
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
from engine.batch.walk import SIDECAR_SUFFIX
from engine.core.errors import PluginError
from engine.core.hashing import sha256_file

SIDECAR_VERSION = 1


def sidecar_path(output: Path) -> Path:
    """The sidecar of ``output`` (``output`` + ``.clarity.json``)."""
    return output.with_name(output.name + SIDECAR_SUFFIX)


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
    result beyond float rounding); strength, precision and output format are.
    """

    steps: tuple[Mapping[str, Any], ...]
    strength: float
    precision: str
    output_format: str | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stable key order)."""
        return {
            "steps": [dict(s) for s in self.steps],
            "strength": self.strength,
            "precision": self.precision,
            "output_format": self.output_format,
        }


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
    )


def _resolve(manifest: Any, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Validated parameter values (all manifest parameters) via ``plugins.params.resolve_params``."""
    from plugins.params import resolve_params

    values = resolve_params(manifest, params)
    return dict(getattr(values, "values", values))


class OutputState(str, enum.Enum):
    """What a re-run finds at an output path."""

    ABSENT = "absent"  # neither output nor sidecar: write it
    COMPLETE = "complete"  # output matches its sidecar, source and recipe unchanged: skip
    PARTIAL = "partial"  # sidecar present but output missing, corrupt or mismatching: redo
    STALE = "stale"  # source or recipe changed since: redo
    FOREIGN = "foreign"  # an output exists without our sidecar: someone's file


def read_sidecar(output: Path) -> dict[str, Any] | None:
    """The parsed sidecar of ``output``; ``None`` if absent; raises ``ValueError`` if corrupt."""
    path = sidecar_path(output)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("clarity_sidecar") != SIDECAR_VERSION:
        raise ValueError(f"{path} is not a Clarity Studio sidecar")
    return data


def check_output(source: Path, output: Path, recipe: Recipe) -> OutputState:
    """Classify ``output`` for resume (hashes the output, and the source when its size matches)."""
    try:
        data = read_sidecar(output)
    except (ValueError, OSError, UnicodeDecodeError):
        return OutputState.PARTIAL
    if data is None:
        return OutputState.FOREIGN if output.exists() else OutputState.ABSENT
    try:
        out_rec, src_rec, rec = data["output"], data["source"], data["recipe"]
        if not output.is_file() or sha256_file(output) != out_rec["sha256"]:
            return OutputState.PARTIAL
        if rec != json.loads(json.dumps(recipe.to_json())):
            return OutputState.STALE
        st = os.stat(source)
        if st.st_size != src_rec["size"]:
            return OutputState.STALE
        if st.st_mtime_ns != src_rec["mtime_ns"] and sha256_file(source) != src_rec["sha256"]:
            return OutputState.STALE
    except (KeyError, TypeError):
        return OutputState.PARTIAL
    return OutputState.COMPLETE


def sidecar_document(source: Path, stamp: SourceStamp, recipe: Recipe, output_sha256: str, output_size: int) -> dict[str, Any]:
    """The JSON content of a sidecar."""
    return {
        "clarity_sidecar": SIDECAR_VERSION,
        "recipe": recipe.to_json(),
        "source": {"path": str(source), "sha256": stamp.sha256, "size": stamp.size, "mtime_ns": stamp.mtime_ns},
        "output": {"sha256": output_sha256, "size": output_size},
    }


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
    "read_sidecar",
    "sidecar_document",
    "sidecar_path",
    "write_json_atomic",
]
