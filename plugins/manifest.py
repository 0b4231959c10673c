"""Parse and validate ``plugin.toml`` into a :class:`plugins.api.Manifest`.

Contract of :func:`load_manifest`:

- reads the file with :mod:`tomllib` and checks every field against the format documented in
  ``docs/plugins.md``;
- any problem raises exactly one :class:`engine.core.errors.ManifestError` that names the file and
  the offending field (``parameters[1].default``, ``tiling.context``...) and says how to fix it;
- unknown keys are errors (they are almost always typos);
- paths (the entry module, weights files) must stay inside the plugin folder: absolute paths,
  ``..`` and symlinks that resolve outside are refused;
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
from engine.core.text import printable
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
from plugins.nets.specs import spec_for, suggest
from plugins.spec import PluginGeometry, combine

MANIFEST_NAME = "plugin.toml"
"""File name of a plugin manifest inside its folder."""

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
PARAM_NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-fA-F]{64}$")

TOP_LEVEL_KEYS: frozenset[str] = frozenset(
    {
        "id", "name", "version", "task", "menu", "description", "license", "entry",
        "scale", "channels", "fp16", "bf16", "onnx", "tiling", "parameters", "weights",
    }
)
TILING_KEYS: frozenset[str] = frozenset({"policy", "context", "size_multiple", "min_tile"})
PARAMETER_KEYS: frozenset[str] = frozenset(
    {"name", "type", "label", "help", "min", "max", "step", "default", "auto", "choices"}
)
WEIGHTS_KEYS: frozenset[str] = frozenset({"name", "file", "sha256", "url", "size", "network"})
SPEC_KEYS: tuple[str, ...] = ("scale", "channels", "fp16", "bf16", "tiling")
"""Top-level keys that describe the network: declared inline, or by the network specs the weights name."""
REFUSED_WEIGHT_SUFFIXES: frozenset[str] = frozenset({".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".zip"})


class _Checker:
    """Field checks bound to one manifest file, so every error names the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.plugin_id = path.parent.name

    def fail(self, field: str | None, message: str) -> ManifestError:
        return ManifestError(self.path, field, message, plugin_id=self.plugin_id)

    def unknown_keys(self, table: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            key = unknown[0]
            field = f"{prefix}{key}"
            raise self.fail(field, f"unknown key '{key}' (a typo?); allowed keys: {', '.join(sorted(allowed))}")

    def string(self, table: Mapping[str, Any], key: str, field: str, *, required: bool, default: str = "") -> str:
        if key not in table:
            if required:
                raise self.fail(field, f"is missing; add {key} = \"...\"")
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, got {_describe(value)}")
        if required and not value.strip():
            raise self.fail(field, "must not be empty")
        if printable(value.replace("\r", "")) != value.replace("\r", ""):
            raise self.fail(
                field,
                f"contains control characters ('{printable(value)}'): terminal escapes, NUL or text-direction "
                "overrides are not allowed in a manifest; remove them",
            )
        return value

    def boolean(self, table: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, got {_describe(value)}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, field: str, default: int, minimum: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"must be an integer, got {_describe(value)}")
        if value < minimum:
            raise self.fail(field, f"must be >= {minimum}, got {value}")
        return value

    def number(self, table: Mapping[str, Any], key: str, field: str) -> float | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"must be a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise self.fail(field, f"must be finite, got {value}")
        return float(value)

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


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


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
    check = _Checker(path)
    folder = path.parent
    if isinstance(data.get("id"), str):
        check.plugin_id = data["id"]
    check.unknown_keys(data, TOP_LEVEL_KEYS, "")

    plugin_id = check.string(data, "id", "id", required=True)
    if not ID_PATTERN.match(plugin_id):
        raise check.fail("id", f"'{plugin_id}' must use only lowercase letters, digits and '-' (e.g. \"my-denoise\")")
    name = check.string(data, "name", "name", required=True)
    version = check.string(data, "version", "version", required=True)
    task_text = check.string(data, "task", "task", required=True)
    try:
        task = Task(task_text)
    except ValueError:
        valid = ", ".join(t.value for t in Task)
        raise check.fail("task", f"unknown task '{task_text}'; use one of: {valid}") from None
    menu = check.string(data, "menu", "menu", required=True)
    description = check.string(data, "description", "description", required=False)
    license_ = check.string(data, "license", "license", required=False)
    entry = _entry(check, data)
    onnx = check.boolean(data, "onnx", "onnx", True)
    weights = _weights(check, data)
    geometry = _network_geometry(check, data, weights)
    if geometry is not None:
        scales, channels, fp16, bf16, tiling = (
            geometry.scales, geometry.channels, geometry.fp16, geometry.bf16, geometry.tiling,
        )
    else:
        scales = _scales(check, data)
        channels = _channels(check, data)
        fp16 = check.boolean(data, "fp16", "fp16", False)
        bf16 = check.boolean(data, "bf16", "bf16", False)
        tiling = _tiling(check, data)
    parameters = _parameters(check, data, scales)
    return Manifest(
        id=plugin_id,
        name=name,
        version=version,
        task=task,
        menu=menu,
        folder=folder,
        description=description,
        license=license_,
        entry=entry,
        parameters=parameters,
        scales=scales,
        channels=channels,
        fp16=fp16,
        bf16=bf16,
        onnx=onnx,
        tiling=tiling,
        weights=weights,
    )


def _network_geometry(check: _Checker, data: Mapping[str, Any], weights: tuple[WeightsFileSpec, ...]) -> PluginGeometry | None:
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
        if key in data:
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


def _entry(check: _Checker, data: Mapping[str, Any]) -> str:
    entry = check.string(data, "entry", "entry", required=False, default="model:build")
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
    candidates = [f"{module}.py", f"{module}/__init__.py"]
    for relative in candidates:
        target = check.inside_folder(relative, "entry")
        if target.is_file():
            return entry
    raise check.fail("entry", f"module '{module}' not found: expected {module}.py in {check.path.parent}")


def _scales(check: _Checker, data: Mapping[str, Any]) -> tuple[int, ...]:
    value = data.get("scale", 1)
    items = value if isinstance(value, list) else [value]
    if not items:
        raise check.fail("scale", "must be an integer or a non-empty list of integers, e.g. 2 or [2, 3, 4]")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 16:
            raise check.fail("scale", f"must be an integer 1..16 or a list of them, got {_describe(value)}")
    if len(set(items)) != len(items):
        raise check.fail("scale", f"lists a scale twice: {items}")
    return tuple(items)


def _channels(check: _Checker, data: Mapping[str, Any]) -> tuple[int, ...]:
    value = data.get("channels", [3])
    items = value if isinstance(value, list) else [value]
    if not items or any(type(c) is not int or c not in (1, 3) for c in items) or len(set(items)) != len(items):
        raise check.fail("channels", f"must be a list of accepted channel counts from {{1, 3}}, e.g. [3]; got {value!r}")
    return tuple(items)


def _tiling(check: _Checker, data: Mapping[str, Any]) -> TilingSpec:
    table = data.get("tiling", {})
    if not isinstance(table, dict):
        raise check.fail("tiling", "must be a table: [tiling]")
    check.unknown_keys(table, TILING_KEYS, "tiling.")
    default = TilingSpec()
    policy_text = check.string(table, "policy", "tiling.policy", required=False, default=default.policy.value)
    try:
        policy = TilingPolicy(policy_text)
    except ValueError:
        valid = ", ".join(p.value for p in TilingPolicy)
        raise check.fail("tiling.policy", f"unknown policy '{policy_text}'; use one of: {valid}") from None
    return TilingSpec(
        policy=policy,
        context=check.integer(table, "context", "tiling.context", default.context, 0),
        size_multiple=check.integer(table, "size_multiple", "tiling.size_multiple", default.size_multiple, 1),
        min_tile=check.integer(table, "min_tile", "tiling.min_tile", default.min_tile, 0),
    )


def _parameters(check: _Checker, data: Mapping[str, Any], scales: tuple[int, ...]) -> tuple[ParamSpec, ...]:
    tables = data.get("parameters", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise check.fail("parameters", "must be an array of tables: [[parameters]]")
    specs: list[ParamSpec] = []
    for index, table in enumerate(tables):
        spec = _parameter(check, table, f"parameters[{index}].")
        if any(s.name == spec.name for s in specs):
            raise check.fail(f"parameters[{index}].name", f"parameter '{spec.name}' is declared twice")
        specs.append(spec)
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


def _parameter(check: _Checker, table: Mapping[str, Any], prefix: str) -> ParamSpec:
    check.unknown_keys(table, PARAMETER_KEYS, prefix)
    name = check.string(table, "name", prefix + "name", required=True)
    if not PARAM_NAME_PATTERN.match(name):
        raise check.fail(prefix + "name", f"'{name}' must be lowercase letters, digits and '_' (e.g. \"sigma\")")
    prefix = f"parameters.{name}."
    type_text = check.string(table, "type", prefix + "type", required=True)
    try:
        ptype = ParamType(type_text)
    except ValueError:
        valid = ", ".join(t.value for t in ParamType)
        raise check.fail(prefix + "type", f"unknown type '{type_text}'; use one of: {valid}") from None
    label = check.string(table, "label", prefix + "label", required=False)
    help_text = check.string(table, "help", prefix + "help", required=False)
    allow_auto = check.boolean(table, "auto", prefix + "auto", False)
    minimum = check.number(table, "min", prefix + "min")
    maximum = check.number(table, "max", prefix + "max")
    step = check.number(table, "step", prefix + "step")
    if step is not None and step <= 0:
        raise check.fail(prefix + "step", f"must be positive, got {step:g}")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise check.fail(prefix + "min", f"min {minimum:g} is greater than max {maximum:g}")
    if allow_auto and ptype not in (ParamType.FLOAT, ParamType.INT):
        raise check.fail(prefix + "auto", "only float and int parameters may be \"auto\"")
    choices: tuple[ParamValue, ...] = ()
    if ptype is ParamType.CHOICE:
        raw = table.get("choices")
        if not isinstance(raw, list) or not raw:
            raise check.fail(prefix + "choices", "a choice parameter needs choices = [\"a\", \"b\"] (strings or integers)")
        if not (all(isinstance(c, str) for c in raw) or all(isinstance(c, int) and not isinstance(c, bool) for c in raw)):
            raise check.fail(prefix + "choices", f"must be all strings or all integers, got {raw!r}")
        if len({str(c) for c in raw}) != len(raw):
            raise check.fail(prefix + "choices", f"lists a value twice: {raw!r}")
        choices = tuple(raw)
        if minimum is not None or maximum is not None or step is not None:
            raise check.fail(prefix + "min", "min/max/step do not apply to a choice parameter")
    elif "choices" in table:
        raise check.fail(prefix + "choices", f"choices apply only to type = \"choice\", not \"{ptype.value}\"")
    if ptype is ParamType.BOOL and (minimum is not None or maximum is not None or step is not None):
        raise check.fail(prefix + "min", "min/max/step do not apply to a bool parameter")
    if ptype is ParamType.INT:
        for key, value in (("min", minimum), ("max", maximum), ("step", step)):
            if value is not None and not float(value).is_integer():
                raise check.fail(prefix + key, f"must be an integer for an int parameter, got {value:g}")
    default = _default(check, table, prefix + "default", ptype, minimum, maximum, choices, allow_auto)
    return ParamSpec(
        name=name,
        type=ptype,
        default=default,
        label=label,
        help=help_text,
        minimum=minimum,
        maximum=maximum,
        step=step,
        choices=choices,
        allow_auto=allow_auto,
    )


def _default(
    check: _Checker,
    table: Mapping[str, Any],
    field: str,
    ptype: ParamType,
    minimum: float | None,
    maximum: float | None,
    choices: tuple[ParamValue, ...],
    allow_auto: bool,
) -> ParamValue:
    if "default" not in table:
        if ptype is ParamType.CHOICE:
            return choices[0]
        raise check.fail(field, "is missing; every parameter needs a default value")
    value = table["default"]
    if allow_auto and value == AUTO:
        return AUTO
    if ptype is ParamType.BOOL:
        if not isinstance(value, bool):
            raise check.fail(field, f"must be true or false, got {_describe(value)}")
        return value
    if ptype is ParamType.CHOICE:
        if value not in choices or isinstance(value, bool):
            raise check.fail(field, f"{value!r} is not one of the choices {list(choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        alternative = ' or "auto"' if allow_auto else ""
        raise check.fail(field, f"must be a number{alternative}, got {_describe(value)}")
    if ptype is ParamType.INT:
        if isinstance(value, float):
            if not value.is_integer():
                raise check.fail(field, f"must be an integer, got {value}")
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise check.fail(field, f"must be finite, got {value}")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        raise check.fail(field, f"default {value:g} is outside the range {low}..{high}")
    return value


def _weights(check: _Checker, data: Mapping[str, Any]) -> tuple[WeightsFileSpec, ...]:
    tables = data.get("weights", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise check.fail("weights", "must be an array of tables: [[weights]]")
    specs: list[WeightsFileSpec] = []
    for index, table in enumerate(tables):
        prefix = f"weights[{index}]."
        check.unknown_keys(table, WEIGHTS_KEYS, prefix)
        name = check.string(table, "name", prefix + "name", required=True)
        if not IDENTIFIER_PATTERN.match(name):
            raise check.fail(prefix + "name", f"'{name}' must be an identifier such as \"main\"")
        if any(s.name == name for s in specs):
            raise check.fail(prefix + "name", f"weights '{name}' are declared twice")
        file = check.string(table, "file", prefix + "file", required=True)
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
        sha = check.string(table, "sha256", prefix + "sha256", required=False)
        if sha and not SHA256_PATTERN.match(sha):
            raise check.fail(prefix + "sha256", "must be 64 hex digits (print it with `clarity plugin hash FILE`), or \"\" while untrained")
        url_text = check.string(table, "url", prefix + "url", required=False)
        if url_text and not url_text.startswith(("https://", "http://")):
            raise check.fail(prefix + "url", f"'{url_text}' must be an http(s) URL")
        if url_text and not sha:
            raise check.fail(prefix + "sha256", "a download url needs the file's sha256 so the download can be verified")
        size = table.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise check.fail(prefix + "size", f"must be the file's size in bytes (a positive whole number), got {size!r}")
        network = check.string(table, "network", prefix + "network", required=False) or None
        specs.append(
            WeightsFileSpec(name=name, file=file, sha256=sha.lower(), url=url_text or None, size=size, network=network)
        )
    return tuple(specs)
