"""Parse and validate ``plugin.toml`` into a :class:`plugins.api.Manifest`.

Contract of :func:`load_manifest`:

- reads the file with :mod:`tomllib`; keys, types, ranges and patterns are checked by the
  pydantic schema in :mod:`plugins.manifest_schema`; this module adds the rules that relate
  several fields or the file system (the format is documented in ``docs/plugins.md``);
- any problem raises exactly one :class:`engine.core.errors.ManifestError` that names the file and
  the offending field (``parameters[1].default``, ``tiling.context``...) and says how to fix it;
- unknown keys are errors (they are almost always typos; a close key is suggested);
- paths (the entry module, weights files) must stay inside the plugin folder: absolute paths,
  ``..`` and symlinks that resolve outside are refused;
- a manifest whose weights entries name their network (``network = "module:callable"``) takes
  scales, channels, fp16/bf16 and tiling from those networks' specs (:mod:`plugins.nets.specs`)
  and must not declare them itself;
- imports neither torch nor plugin code, and does not hash weights (see :mod:`plugins.weights`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import tomllib

from engine.core.errors import ManifestError
from engine.core.files import open_regular
from plugins.api import (
    AUTO,
    Manifest,
    ParamSpec,
    ParamType,
    ParamValue,
    Task,
    TilingPolicy,
    TilingSpec,
    WeightsFileSpec,
)
from plugins.manifest_schema import (
    ID_RE,
    IDENTIFIER_RE,
    ManifestTable,
    ParameterTable,
    WeightsTable,
    describe,
    validate_tables,
)
from plugins.nets.specs import spec_for, suggest
from plugins.spec import PluginGeometry, combine

MANIFEST_NAME = "plugin.toml"
"""File name of a plugin manifest inside its folder."""

ID_PATTERN = re.compile(ID_RE)
IDENTIFIER_PATTERN = re.compile(IDENTIFIER_RE)
SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")
SPEC_KEYS: tuple[str, ...] = ("scale", "channels", "fp16", "bf16", "tiling")
"""Top-level keys that describe the network: declared inline, or by the network specs the weights name."""
REFUSED_WEIGHT_SUFFIXES: frozenset[str] = frozenset({".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".zip"})


class _Checker:
    """Cross-field rules bound to one manifest file, so every error names the file and the field."""

    def __init__(self, path: Path, plugin_id: str | None = None) -> None:
        self.path = path
        self.plugin_id = plugin_id or path.parent.name

    def fail(self, field: str | None, message: str) -> ManifestError:
        return ManifestError(self.path, field, message, plugin_id=self.plugin_id)

    def inside_folder(self, relative: str, field: str) -> Path:
        """``folder / relative`` after checking it cannot escape the plugin folder."""
        if not relative:
            raise self.fail(field, "must not be empty")
        if "\\" in relative or PureWindowsPath(relative).drive or PurePosixPath(relative).is_absolute():
            raise self.fail(field, f"'{relative}' must be a relative path with '/' separators inside the plugin folder")
        if ".." in PurePosixPath(relative).parts:
            raise self.fail(field, f"'{relative}' points outside the plugin folder ('..' is not allowed)")
        folder = self.path.parent.resolve()
        target = (folder / relative).resolve()
        if target != folder and folder not in target.parents:
            raise self.fail(field, f"'{relative}' resolves to {target}, outside the plugin folder (a symlink?)")
        return self.path.parent / relative


MAX_MANIFEST_BYTES = 1 << 20
"""A ``plugin.toml`` larger than this is refused unread (a manifest is a few KiB)."""


def load_manifest(path: Path) -> Manifest:
    """Parse and validate the manifest at ``path`` (a ``plugin.toml`` file or its folder).

    Raises :class:`engine.core.errors.ManifestError` naming the file and the field for any problem:
    unreadable file, TOML syntax error, missing or mistyped field, unknown key, unknown task,
    a default outside its range, or a path leaving the plugin folder.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    check = _Checker(path)
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise check.fail(None, f"cannot read the manifest ({exc.strerror or exc})") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise check.fail(None, f"is larger than {MAX_MANIFEST_BYTES // 1024} KiB; a manifest is a short text file")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except RecursionError as exc:
        raise check.fail(None, "nests tables or arrays too deeply") from exc
    except UnicodeDecodeError as exc:
        raise check.fail(None, "is not UTF-8 text; save plugin.toml as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise check.fail(None, f"TOML syntax error: {exc}") from exc
    return manifest_from_dict(data, path)


def manifest_from_dict(data: Mapping[str, Any], path: Path) -> Manifest:
    """Validate already-parsed TOML ``data`` as the manifest stored at ``path``."""
    plugin_id = data.get("id") if isinstance(data.get("id"), str) else None
    check = _Checker(path, plugin_id)
    table = validate_tables(data, path, check.plugin_id)
    entry = _entry(check, table.entry)
    weights = _weights(check, table.weights)
    geometry = _network_geometry(check, table, weights)
    if geometry is None:
        default = TilingSpec()
        tiling = table.tiling
        geometry = PluginGeometry(
            scales=table.scale or (1,),
            channels=table.channels or (3,),
            fp16=bool(table.fp16),
            bf16=bool(table.bf16),
            tiling=default if tiling is None else TilingSpec(
                TilingPolicy(tiling.policy), tiling.context, tiling.size_multiple, tiling.min_tile
            ),
        )  # fmt: skip
    parameters = _parameters(check, table.parameters, geometry.scales)
    return Manifest(
        id=table.id,
        name=table.name,
        version=table.version,
        task=Task(table.task),
        menu=table.menu,
        folder=path.parent,
        description=table.description,
        license=table.license,
        entry=entry,
        parameters=parameters,
        scales=geometry.scales,
        channels=geometry.channels,
        fp16=geometry.fp16,
        bf16=geometry.bf16,
        onnx=table.onnx,
        tiling=geometry.tiling,
        weights=weights,
        ensemble=geometry.ensemble,
    )


def _network_geometry(check: _Checker, table: ManifestTable, weights: tuple[WeightsFileSpec, ...]) -> PluginGeometry | None:
    """The geometry given by the network specs the weights entries name, or ``None`` if they name none."""
    named = [w for w in weights if w.network is not None]
    if not named:
        return None
    for index, w in enumerate(weights):
        if w.network is None:
            raise check.fail(
                f"weights[{index}].network",
                f"is missing; the other weights entries name their network, so '{w.name}' must too",
            )
    for key in SPEC_KEYS:
        if getattr(table, "scale" if key == "scale" else key) is not None:
            raise check.fail(
                key,
                f"is declared by the network spec of '{named[0].network}' (plugins/nets/specs.py); "
                f"remove '{key}' from plugin.toml",
            )
    specs = []
    for index, w in enumerate(weights):
        spec = spec_for(w.network or "")
        if spec is None:
            raise check.fail(
                f"weights[{index}].network",
                f"'{w.network}' is not a built-in network{suggest(w.network or '')}; name one of plugins/nets/specs.py, "
                "or remove 'network' and declare scale, channels, fp16, bf16 and [tiling] in plugin.toml",
            )
        specs.append(spec)
    try:
        return combine(specs)
    except ValueError as exc:
        raise check.fail("weights", f"the networks do not fit one plugin: {exc}") from None


def _entry(check: _Checker, entry: str) -> str:
    module, sep, function = entry.partition(":")
    parts = module.split(".")
    if not sep or not all(IDENTIFIER_PATTERN.match(p) for p in parts) or not IDENTIFIER_PATTERN.match(function):
        raise check.fail(
            "entry",
            f"'{entry}' must be 'module:function' naming a .py file in the plugin folder, e.g. \"model:build\", "
            "or an importable module, e.g. \"plugins.nets.weather:build_weather\"",
        )
    if len(parts) > 1:
        return entry  # an importable module (shared by several plugins); checked when the plugin loads
    for relative in (f"{module}.py", f"{module}/__init__.py"):
        if check.inside_folder(relative, "entry").is_file():
            return entry
    raise check.fail("entry", f"module '{module}' not found: expected {module}.py in {check.path.parent}")


def _parameters(check: _Checker, tables: list[ParameterTable], scales: tuple[int, ...]) -> tuple[ParamSpec, ...]:
    specs: list[ParamSpec] = []
    for index, table in enumerate(tables):
        if any(s.name == table.name for s in specs):
            raise check.fail(f"parameters[{index}].name", f"parameter '{table.name}' is declared twice")
        specs.append(_parameter(check, table))
    scale_param = next((s for s in specs if s.name == "scale"), None)
    if len(scales) > 1:
        if scale_param is None or scale_param.type is not ParamType.CHOICE:
            raise check.fail(
                "scale",
                f"lists several scales {list(scales)}, so a [[parameters]] entry name = \"scale\", "
                f"type = \"choice\", choices = {list(scales)} is required",
            )
        if sorted(str(c) for c in scale_param.choices) != sorted(str(s) for s in scales):
            raise check.fail("parameters.scale.choices", f"must list exactly the scales {list(scales)}")
    elif scale_param is not None:
        raise check.fail("parameters.scale", f"a 'scale' parameter needs several scales, e.g. scale = [2, 4]; got {list(scales)}")
    return tuple(specs)


def _parameter(check: _Checker, table: ParameterTable) -> ParamSpec:
    prefix = f"parameters.{table.name}."
    ptype = ParamType(table.type)
    minimum, maximum, step = table.min, table.max, table.step
    if step is not None and step <= 0:
        raise check.fail(prefix + "step", f"must be positive, got {step:g}")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise check.fail(prefix + "min", f"min {minimum:g} is greater than max {maximum:g}")
    if table.auto and ptype not in (ParamType.FLOAT, ParamType.INT):
        raise check.fail(prefix + "auto", "only float and int parameters may be \"auto\"")
    choices: tuple[ParamValue, ...] = ()
    if ptype is ParamType.CHOICE:
        if table.choices is None:
            raise check.fail(prefix + "choices", "a choice parameter needs choices = [\"a\", \"b\"] (strings or integers)")
        choices = table.choices
        if minimum is not None or maximum is not None or step is not None:
            raise check.fail(prefix + "min", "min/max/step do not apply to a choice parameter")
    elif table.choices is not None:
        raise check.fail(prefix + "choices", f"choices apply only to type = \"choice\", not \"{ptype.value}\"")
    if ptype is ParamType.BOOL and (minimum is not None or maximum is not None or step is not None):
        raise check.fail(prefix + "min", "min/max/step do not apply to a bool parameter")
    if ptype is ParamType.INT:
        for key, value in (("min", minimum), ("max", maximum), ("step", step)):
            if value is not None and not float(value).is_integer():
                raise check.fail(prefix + key, f"must be an integer for an int parameter, got {value:g}")
    default = _default(check, table, prefix + "default", ptype, choices)
    return ParamSpec(
        name=table.name,
        type=ptype,
        default=default,
        label=table.label,
        help=table.help,
        minimum=minimum,
        maximum=maximum,
        step=step,
        choices=choices,
        allow_auto=table.auto,
    )


def _default(
    check: _Checker, table: ParameterTable, field: str, ptype: ParamType, choices: tuple[ParamValue, ...]
) -> ParamValue:
    value = table.default
    if value is None:
        if ptype is ParamType.CHOICE:
            return choices[0]
        raise check.fail(field, "is missing; every parameter needs a default value")
    if table.auto and value == AUTO:
        return AUTO
    if ptype is ParamType.BOOL:
        if not isinstance(value, bool):
            raise check.fail(field, f"must be true or false, got {describe(value)}")
        return value
    if ptype is ParamType.CHOICE:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value not in choices:
            raise check.fail(field, f"{value!r} is not one of the choices {list(choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        alternative = ' or "auto"' if table.auto else ""
        raise check.fail(field, f"must be a number{alternative}, got {describe(value)}")
    if ptype is ParamType.INT:
        if isinstance(value, float):
            if not value.is_integer():
                raise check.fail(field, f"must be an integer, got {value}")
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise check.fail(field, f"must be finite, got {value}")
    minimum, maximum = table.min, table.max
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        raise check.fail(field, f"default {value:g} is outside the range {low}..{high}")
    return value


def _weights(check: _Checker, tables: list[WeightsTable]) -> tuple[WeightsFileSpec, ...]:
    specs: list[WeightsFileSpec] = []
    for index, table in enumerate(tables):
        prefix = f"weights[{index}]."
        if any(s.name == table.name for s in specs):
            raise check.fail(prefix + "name", f"weights '{table.name}' are declared twice")
        file = table.file
        check.inside_folder(file, prefix + "file")
        suffix = PurePosixPath(file).suffix.lower()
        if suffix != ".safetensors":
            hint = " (pickled PyTorch checkpoints are refused for safety)" if suffix in REFUSED_WEIGHT_SUFFIXES else ""
            raise check.fail(
                prefix + "file",
                f"'{file}' must be a .safetensors file{hint}; convert it with "
                "safetensors.torch.save_file(state_dict, 'weights.safetensors')",
            )
        if any(s.file == file for s in specs):
            raise check.fail(prefix + "file", f"'{file}' is listed twice")
        sha = table.sha256
        if sha and not SHA256_PATTERN.match(sha):
            raise check.fail(prefix + "sha256", "must be 64 hex digits (print it with `clarity plugin hash FILE`), or \"\" while untrained")
        if table.url and not table.url.startswith(("https://", "http://")):
            raise check.fail(prefix + "url", f"'{table.url}' must be an http(s) URL")
        if table.url and not sha:
            raise check.fail(prefix + "sha256", "a download url needs the file's sha256 so the download can be verified")
        if table.size is not None and table.size <= 0:
            raise check.fail(prefix + "size", f"must be the file's size in bytes (a positive whole number), got {table.size!r}")
        specs.append(
            WeightsFileSpec(
                name=table.name, file=file, sha256=sha.lower(), url=table.url or None, size=table.size,
                network=table.network or None,
            )
        )  # fmt: skip
    return tuple(specs)
