"""``clarity plugin import``: turn a community model file into a plugin folder.

Two steps, so the desktop app can show what was detected before anything is written:

- :func:`inspect_model` (called through :func:`engine.model_import.inspect_model`) reads the file with the restricted loader, detects the architecture
  with spandrel and measures the tiling policy -> a frozen :class:`ImportPlan`;
- :func:`write_plugin` writes ``<parent>/<id>/`` with ``plugin.toml``, ``weights.safetensors``
  (the only copy read afterwards, hash in the manifest), a two-line ``model.py`` and a
  ``MODEL.md`` stating the provenance. It is written into a hidden temporary folder, validated
  with the normal manifest loader, then renamed into place: a failure leaves nothing behind
  and an existing folder or plugin id is never overwritten.

:func:`remove_imported` deletes a plugin created here (only those: it checks the generated marker).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.atomic import give_default_mode
from engine.core.errors import PluginError
from plugins.community.detect import Detection, describe, load_descriptor
from plugins.community.measure import DEFAULT_MIN_TILE, NO_STEPS, Steps, TiledError, TilingDecision, decide_tiling
from plugins.community.runtime import GENERATED_MARKER
from plugins.manifest import ID_PATTERN, MANIFEST_NAME, load_manifest
from plugins.scaffold import slugify

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from plugins.registry import PluginRegistry

DEFAULT_LICENSE = "unknown (imported)"
WEIGHTS_FILE = "weights.safetensors"


@dataclass(frozen=True)
class ImportPlan:
    """Everything known about a model file before its plugin is written."""

    source: Path
    source_sha256: str
    detection: Detection
    tiling: TilingDecision
    state_dict: dict[str, torch.Tensor] = field(repr=False, compare=False)

    def summary_lines(self) -> list[str]:
        """Human-readable facts for the CLI and the confirmation dialog."""
        d, t = self.detection, self.tiling
        return [
            f"file: {self.source.name} (sha256 {self.source_sha256[:16]}...)",
            f"architecture: {d.arch_name} (spandrel id {d.arch_id}; code licence {d.arch_license})",
            f"task: {d.task.value}; scale x{d.scale}; channels {d.channels}; parameters {d.parameters:,}",
            f"input size: multiple of {d.size_multiple}" + (f", at least {d.min_size} px" if d.min_size else ""),
            f"tiling: {t.spec.policy.value}, context {t.spec.context} px"
            + (f", min tile {t.spec.min_tile} px" if t.spec.min_tile else "")
            + f" ({t.reason})",
            f"half precision: fp16 {'yes' if d.fp16 else 'no'}, bf16 {'yes' if d.bf16 else 'no'}",
            f"measured in {t.seconds:.1f} s (test run, receptive field, tiled check)",
        ]


def inspect_model(
    path: Path, *, tiled_error: TiledError, min_tile: int = DEFAULT_MIN_TILE, steps: Steps = NO_STEPS
) -> ImportPlan:
    """Read, detect and measure ``path`` (raises ModelFileError with one line on any problem).

    ``tiled_error`` is the engine's tiled-vs-whole check; callers use
    :func:`engine.model_import.inspect_model`, which supplies it. ``steps`` reports the stages
    and raises :class:`~engine.core.errors.CancelledError` when the caller cancels; nothing is
    written by an inspection, so a cancel leaves nothing behind.
    """
    from engine.core.hashing import sha256_file
    from plugins.community.model_file import read_state_dict

    path = Path(path)
    steps.stage(0)
    state = read_state_dict(path)
    source_sha256 = sha256_file(path)
    steps.stage(1)
    descriptor = load_descriptor(state, path.name)
    detection = describe(descriptor)
    tiling = decide_tiling(descriptor, detection, tiled_error=tiled_error, min_tile=min_tile, steps=steps)
    return ImportPlan(path, source_sha256, detection, tiling, state)


def default_id(path: Path) -> str:
    """The plugin id proposed for a model file: the slug of its stem (``4x-Foo_v2.pth`` -> ``4x-foo-v2``)."""
    slug = slugify(Path(path).stem)
    return slug if slug and ID_PATTERN.match(slug) else "imported-model"


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def manifest_text(plan: ImportPlan, plugin_id: str, name: str, license_text: str, weights_sha256: str) -> str:
    """The generated ``plugin.toml``."""
    d, t = plan.detection, plan.tiling.spec
    description = f"{d.arch_name} x{d.scale} model imported from {plan.source.name} (via spandrel)"
    return "\n".join(
        [
            f"# {GENERATED_MARKER} from {plan.source.name}; reference: docs/plugins.md",
            f"id = {_toml(plugin_id)}",
            f"name = {_toml(name)}",
            'version = "1.0.0"',
            f"task = {_toml(d.task.value)}",
            f"menu = {_toml(name)}",
            f"description = {_toml(description)}",
            f"license = {_toml(license_text)}",
            'entry = "model:build"',
            f"scale = {d.scale}",
            f"channels = [{d.channels}]",
            f"fp16 = {'true' if d.fp16 else 'false'}",
            f"bf16 = {'true' if d.bf16 else 'false'}",
            "",
            "[tiling]",
            f"# {plan.tiling.reason}",
            f"policy = {_toml(t.policy.value)}",
            f"context = {t.context}",
            f"size_multiple = {t.size_multiple}",
            f"min_tile = {t.min_tile}",
            "",
            "[[weights]]",
            'name = "main"',
            f"file = {_toml(WEIGHTS_FILE)}",
            f"sha256 = {_toml(weights_sha256)}",
            "",
        ]
    )


def model_py_text(plan: ImportPlan) -> str:
    """The generated ``model.py``: the shared spandrel runtime, bound to the detected architecture."""
    return (
        f'"""{GENERATED_MARKER}: {plan.detection.arch_name} weights run through spandrel (see MODEL.md)."""\n\n'
        "from plugins.community.runtime import make_build\n\n"
        f"build = make_build({plan.detection.arch_id!r})\n"
    )


def model_card_text(plan: ImportPlan, name: str, license_text: str, weights_sha256: str) -> str:
    """The generated ``MODEL.md`` (provenance, detection, measured tiling)."""
    import importlib.metadata

    d, t = plan.detection, plan.tiling
    try:
        spandrel_version = importlib.metadata.version("spandrel")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - spandrel imported from a path
        spandrel_version = "unknown"
    radius = f"{t.radius} px (autograd, {t.probe} px probe)" if t.radius is not None else (
        f"not local: reaches the border of a {t.probe} px probe" if t.probe else "not measured"
    )
    verified = f"{t.tiled_error:.1e} max |tiled - whole| (fp32, CPU)" if t.tiled_error is not None else "not run"
    return "\n".join(
        [
            f"# {name}",
            "",
            f"{GENERATED_MARKER} on {_dt.date.today().isoformat()}. Nothing here was trained by Clarity Studio.",
            "",
            "## Provenance",
            "",
            f"- **Original file**: `{plan.source.name}`",
            f"- **Original sha256**: `{plan.source_sha256}`",
            f"- **Converted weights**: `{WEIGHTS_FILE}`, sha256 `{weights_sha256}` (the only file read from now on)",
            f"- **Weights licence**: {license_text}",
            "",
            "## Detected (spandrel " + spandrel_version + ")",
            "",
            f"- **Architecture**: {d.arch_name} (id `{d.arch_id}`), code licence: {d.arch_license}",
            f"- **Purpose**: {d.purpose} -> task `{d.task.value}`, scale x{d.scale}, {d.channels} channel(s)",
            f"- **Parameters**: {d.parameters:,}" + (f"; tags: {', '.join(d.tags)}" if d.tags else ""),
            f"- **Size requirements**: multiple of {d.size_multiple}, minimum {d.min_size} px"
            + (", square" if d.square else ""),
            f"- **fp16 / bf16**: {'yes' if d.fp16 else 'no'} / {'yes' if d.bf16 else 'no'}",
            f"- **spandrel tiling advice**: {d.spandrel_tiling}",
            "",
            "## Measured at import",
            "",
            f"- **Receptive-field radius**: {radius}",
            f"- **Tiling policy**: `{t.spec.policy.value}`, context {t.spec.context} px, min tile {t.spec.min_tile} px",
            f"- **Why**: {t.reason}",
            f"- **Tiled vs whole check**: {verified}",
            "",
        ]
    )


def _existing_id(plugin_id: str, registry: PluginRegistry | None) -> str | None:
    """Where a plugin with this id already lives, or ``None``."""
    from plugins.registry import PluginRegistry, UnknownPluginError

    reg = registry if registry is not None else PluginRegistry()
    reg.refresh()
    try:
        return str(reg.info(plugin_id).location)
    except UnknownPluginError:
        return None


def check_id_free(plugin_id: str, parent: Path, registry: PluginRegistry | None = None) -> None:
    """Raise :class:`PluginError` if ``plugin_id`` is invalid, used by a plugin, or ``parent/<id>`` exists."""
    if not ID_PATTERN.match(plugin_id):
        raise PluginError(plugin_id, "an id uses only lowercase letters, digits and '-', e.g. --id my-upscaler")
    where = _existing_id(plugin_id, registry)
    if where is not None:
        raise PluginError(plugin_id, f"a plugin with this id already exists ({where}); choose another with --id")
    target = Path(parent) / plugin_id
    if target.exists():
        raise PluginError(plugin_id, f"{target} already exists; choose another id with --id or delete that folder")


def write_plugin(
    plan: ImportPlan,
    parent: Path,
    *,
    plugin_id: str | None = None,
    name: str | None = None,
    license_text: str | None = None,
    registry: PluginRegistry | None = None,
    steps: Steps = NO_STEPS,
) -> Path:
    """Write the plugin folder ``parent/<id>`` for ``plan`` and return it (see the module contract).

    Raises :class:`PluginError` for an invalid id, an id that already exists (in any plugin
    source) or a folder that already exists. ``steps.check()`` runs between the writes and just
    before the final rename: a cancel there raises CancelledError and removes the staging folder.
    """
    from engine.core.hashing import sha256_file
    from plugins.weights import write_safetensors

    plugin_id = plugin_id or default_id(plan.source)
    check_id_free(plugin_id, parent, registry)
    name = (name or Path(plan.source).stem).strip() or plugin_id
    license_text = (license_text or "").strip() or DEFAULT_LICENSE
    parent = Path(parent)
    target = parent / plugin_id
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".import-{plugin_id}-", dir=parent))  # 0700 until complete
    try:
        weights = staging / WEIGHTS_FILE
        state = {k: v.detach().to("cpu").contiguous().clone() for k, v in plan.state_dict.items()}
        write_safetensors(state, weights, {"source": plan.source.name, "source_sha256": plan.source_sha256})
        mode = give_default_mode(weights)  # safetensors writes 0600; plugin files get the normal 0644 (umask)
        steps.check()
        digest = sha256_file(weights)
        (staging / "model.py").write_text(model_py_text(plan), encoding="utf-8")
        (staging / MANIFEST_NAME).write_text(manifest_text(plan, plugin_id, name, license_text, digest), encoding="utf-8")
        (staging / "MODEL.md").write_text(model_card_text(plan, name, license_text, digest), encoding="utf-8")
        load_manifest(staging / MANIFEST_NAME)  # the generated manifest must pass the normal validation
        os.chmod(staging, mode | (mode & 0o444) >> 2)  # a folder: searchable where readable (0755)
        steps.check()
        os.rename(staging, target)  # atomic; fails rather than replacing an existing folder
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def is_imported(folder: Path) -> bool:
    """True when ``folder`` is a plugin written by :func:`write_plugin` (its model.py carries the marker)."""
    try:
        head = (Path(folder) / "model.py").read_text(encoding="utf-8")[:200]
    except OSError:
        return False
    return GENERATED_MARKER in head


def remove_imported(plugin_id: str, registry: PluginRegistry | None = None) -> Path:
    """Delete the imported plugin ``plugin_id`` from its user folder; returns the removed folder.

    Refuses (``PluginError``) plugins that were not created by ``clarity plugin import``. The
    folder is first renamed to a hidden name (so it disappears at once), then deleted.
    """
    from plugins.api import PluginSource
    from plugins.registry import PluginRegistry

    reg = registry if registry is not None else PluginRegistry()
    reg.refresh()
    info = reg.info(plugin_id)
    if info.source is not PluginSource.USER or not is_imported(info.location):
        raise PluginError(plugin_id, "was not created by `clarity plugin import`; remove it by hand if you must")
    folder = info.location
    trash = folder.with_name(f".removing-{folder.name}-{os.getpid()}")
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)
    reg.refresh()
    return folder


def imported_plugins(infos: list[Any]) -> list[Any]:
    """The :class:`~plugins.api.PluginInfo` entries of ``infos`` created by ``clarity plugin import``."""
    from plugins.api import PluginSource

    return [i for i in infos if i.manifest is not None and i.source is PluginSource.USER and is_imported(i.location)]


__all__ = [
    "DEFAULT_LICENSE", "ImportPlan", "check_id_free", "default_id", "imported_plugins", "inspect_model", "is_imported",
    "remove_imported", "write_plugin",
]  # fmt: skip
