"""The ``plugin.toml`` schema (pydantic v2): keys, types, ranges and patterns of every table.

:func:`validate_tables` checks parsed TOML against :class:`ManifestTable` and turns the first
problem into one :class:`engine.core.errors.ManifestError` naming the file and the field
(``tiling.context``, ``parameters.amount.default``, ``weights[0].file``), with a suggestion for a
misspelt key. Rules that relate several fields or the file system (a default within its range,
the scale parameter, paths inside the folder, network specs) are checked by
:mod:`plugins.manifest` on the validated tables.

Types are strict, as TOML is typed: ``true`` is not an integer, ``"2"`` is not a scale, and an
integer is a valid float. Imports no torch.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from engine.core.errors import ManifestError
from engine.core.text import printable
from plugins.api import ParamType, Task, TilingPolicy

ID_RE = r"^[a-z0-9][a-z0-9-]*$"
PARAM_NAME_RE = r"^[a-z_][a-z0-9_]*$"
IDENTIFIER_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _printable_text(value: str) -> str:
    if printable(value.replace("\r", "")) != value.replace("\r", ""):
        raise PydanticCustomError(
            "control_characters",
            "contains control characters ('{shown}'): terminal escapes, NUL or text-direction overrides "
            "are not allowed in a manifest; remove them",
            {"shown": printable(value)},
        )
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("not_finite", "must be finite, got {value}", {"value": value})
    return float(value)


def _pattern(regex: str, hint: str) -> AfterValidator:
    import re

    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise PydanticCustomError("bad_pattern", "'{value}' " + hint, {"value": value})
        return value

    return AfterValidator(check)


Text = Annotated[StrictStr, AfterValidator(_printable_text)]
"""A string without control characters."""
Required = Annotated[Text, AfterValidator(_not_blank)]
"""A non-empty string without control characters."""
Number = Annotated[StrictInt | Annotated[float, Field(strict=True)], AfterValidator(_finite)]
"""A finite number (an integer is a valid number); stored as float."""


def _scales(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PydanticCustomError("scales", "must be an integer or a non-empty list of integers, e.g. 2 or [2, 3, 4]")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 16:
            raise PydanticCustomError(
                "scales", "must be an integer 1..16 or a list of them, got {got}", {"got": describe(value)}
            )
    if len(set(items)) != len(items):
        raise PydanticCustomError("scales", "lists a scale twice: {items}", {"items": str(items)})
    return tuple(items)


def _channels(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or any(type(c) is not int or c not in (1, 3) for c in items) or len(set(items)) != len(items):
        raise PydanticCustomError(
            "channels", "must be a list of accepted channel counts from {{1, 3}}, e.g. [3]; got {got}", {"got": repr(value)}
        )
    return tuple(items)


def _choices(value: Any) -> tuple[str | int, ...]:
    if not isinstance(value, list) or not value:
        raise PydanticCustomError("choices", 'a choice parameter needs choices = ["a", "b"] (strings or integers)')
    if not (all(isinstance(c, str) for c in value) or all(isinstance(c, int) and not isinstance(c, bool) for c in value)):
        raise PydanticCustomError("choices", "must be all strings or all integers, got {got}", {"got": repr(value)})
    if len({str(c) for c in value}) != len(value):
        raise PydanticCustomError("choices", "lists a value twice: {got}", {"got": repr(value)})
    return tuple(value)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TilingTable(_Table):
    """``[tiling]`` (see :class:`plugins.api.TilingSpec`)."""

    policy: Literal["tiled", "min-tile", "whole"] = TilingPolicy.TILED.value
    context: Annotated[StrictInt, Field(ge=0)] = 16
    size_multiple: Annotated[StrictInt, Field(ge=1)] = 1
    min_tile: Annotated[StrictInt, Field(ge=0)] = 0


class ParameterTable(_Table):
    """One ``[[parameters]]`` table; ``default`` is checked against the type by :mod:`plugins.manifest`."""

    name: Annotated[Required, _pattern(PARAM_NAME_RE, 'must be lowercase letters, digits and \'_\' (e.g. "sigma")')]
    type: Literal["float", "int", "bool", "choice"]
    label: Text = ""
    help: Text = ""
    min: Number | None = None
    max: Number | None = None
    step: Number | None = None
    default: Any = None
    auto: StrictBool = False
    choices: Annotated[tuple[str | int, ...], BeforeValidator(_choices)] | None = None


class WeightsTable(_Table):
    """One ``[[weights]]`` table; paths and hashes are checked by :mod:`plugins.manifest`."""

    name: Annotated[Required, _pattern(IDENTIFIER_RE, 'must be an identifier such as "main"')]
    file: Required
    sha256: Text = ""
    url: Text = ""
    size: StrictInt | None = None
    network: Text | None = None


class ManifestTable(_Table):
    """The whole ``plugin.toml``."""

    id: Annotated[Required, _pattern(ID_RE, "must use only lowercase letters, digits and '-' (e.g. \"my-denoise\")")]
    name: Required
    version: Required
    task: Literal["denoise", "super-resolution", "derain", "dehaze", "desnow", "other"]
    menu: Required
    description: Text = ""
    license: Text = ""
    entry: Text = "model:build"
    scale: Annotated[tuple[int, ...], BeforeValidator(_scales)] | None = None
    channels: Annotated[tuple[int, ...], BeforeValidator(_channels)] | None = None
    fp16: StrictBool | None = None
    bf16: StrictBool | None = None
    onnx: StrictBool = True
    tiling: TilingTable | None = None
    parameters: list[ParameterTable] = []
    weights: list[WeightsTable] = []


assert {t.value for t in Task} == {"denoise", "super-resolution", "derain", "dehaze", "desnow", "other"}
assert {t.value for t in ParamType} == {"float", "int", "bool", "choice"}

_TABLE_HINTS = {"tiling": "must be a table: [tiling]", "parameters": "must be an array of tables: [[parameters]]",
                "weights": "must be an array of tables: [[weights]]"}  # fmt: skip


def describe(value: object) -> str:
    """``int 3``, ``str '2'``: a value and its TOML type for a message."""
    return f"{type(value).__name__} {value!r}"


def validate_tables(data: Mapping[str, Any], path: Path, plugin_id: str) -> ManifestTable:
    """``data`` validated against :class:`ManifestTable`; the first problem raises :class:`ManifestError`."""
    try:
        return ManifestTable.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field, key = field_name(error["loc"], data)
        raise ManifestError(path, field, _message(error, key, data), plugin_id=plugin_id) from None


def field_name(loc: Sequence[str | int], data: Mapping[str, Any]) -> tuple[str, str]:
    """``(field, key)`` for a pydantic error location: ``parameters.amount.default``, ``weights[0].file``...

    A parameter's fields are named by the parameter's name when it has a valid one
    (``parameters[1].name`` otherwise); union-member tags pydantic adds are dropped.
    """
    parts = _clean(loc)
    if not parts:
        return "", ""
    head = str(parts[0])
    if head in ("parameters", "weights") and len(parts) >= 2 and isinstance(parts[1], int):
        index, rest = parts[1], [str(p) for p in parts[2:3]]
        key = rest[0] if rest else ""
        table = data.get(head)
        name = table[index].get("name") if isinstance(table, list) and isinstance(table[index], dict) else None
        if head == "parameters" and key and key != "name" and isinstance(name, str) and name:
            return f"parameters.{name}.{key}", key
        return f"{head}[{index}]" + (f".{key}" if key else ""), key
    if head == "tiling" and len(parts) >= 2:
        return f"tiling.{parts[1]}", str(parts[1])
    return head, head


def _message(error: Mapping[str, Any], key: str, data: Mapping[str, Any]) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    loc = _clean(error["loc"])
    if kind == "extra_forbidden":
        allowed = sorted(_allowed_keys(loc[:-1]))
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f" did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{key}' (a typo?{hint}); allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        if key in ("default",):
            return "is missing; every parameter needs a default value"
        return f'is missing; add {key} = "..."'
    if kind in ("model_type", "list_type", "model_attributes_type") and len(loc) <= 2 and str(loc[0]) in _TABLE_HINTS:
        return _TABLE_HINTS[str(loc[0])]
    if kind == "literal_error" and not isinstance(value, str):
        return f"must be a string, got {describe(value)}"
    if kind == "literal_error":
        label = {"task": "task", "policy": "policy", "type": "type"}.get(key, "value")
        return f"unknown {label} '{printable(str(value))}'; use one of: {ctx.get('expected', '').replace(chr(39), '')}".replace(" or ", ", ")
    if key in ("min", "max", "step") and kind in ("int_type", "float_type"):
        return f"must be a number, got {describe(value)}"
    if kind in ("string_type",):
        return f"must be a string, got {describe(value)}"
    if kind == "bool_type":
        return f"must be true or false, got {describe(value)}"
    if kind in ("int_type", "int_from_float"):
        return f"must be an integer, got {describe(value)}"
    if kind in ("float_type", "int_parsing", "float_parsing"):
        return f"must be a number, got {describe(value)}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}, got {value}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}, got {value}"
    if error.get("msg") and kind not in ("model_type", "list_type", "dict_type"):
        return str(error["msg"])
    return f"has the wrong type ({describe(value)})"


def _clean(loc: Sequence[str | int]) -> list[str | int]:
    """The location without the union-member tags pydantic inserts (``int``, ``function-after[...]``)."""
    return [p for i, p in enumerate(loc) if isinstance(p, int) or p in _ALL_KEYS or (i == len(loc) - 1 and "[" not in p)]


def _allowed_keys(loc: Sequence[str | int]) -> set[str]:
    names = [p for p in loc if isinstance(p, str)]
    model: type[BaseModel] = ManifestTable
    if names[:1] == ["tiling"]:
        model = TilingTable
    elif names[:1] == ["parameters"]:
        model = ParameterTable
    elif names[:1] == ["weights"]:
        model = WeightsTable
    return set(model.model_fields)


_ALL_KEYS: frozenset[str] = frozenset(
    set(ManifestTable.model_fields) | set(TilingTable.model_fields) | set(ParameterTable.model_fields)
    | set(WeightsTable.model_fields)
)  # fmt: skip
