"""Check and convert filter parameter values against a plugin's manifest.

Values come from the command line (strings such as ``"0.5"``, ``"true"``, ``"auto"``, ``"3"``),
from the GUI or from Python (typed values). :func:`resolve_params` turns them into a complete,
typed :class:`plugins.api.ParamValues`; every problem is a :class:`engine.core.errors.ParameterError`
whose message names the parameter and the accepted values.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence

from engine.core.errors import ParameterError
from plugins.api import AUTO, Manifest, ParamSpec, ParamType, ParamValue, ParamValues

TRUE_WORDS: frozenset[str] = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS: frozenset[str] = frozenset({"false", "no", "off", "0"})


def resolve_params(manifest: Manifest, raw: Mapping[str, ParamValue]) -> ParamValues:
    """Validated values for every parameter of ``manifest`` (missing ones take their default).

    - strings are parsed according to the parameter type (``"true"``/``"false"`` for bools,
      ``"auto"`` where the manifest allows it, a choice's text for choices);
    - an unknown name raises :class:`ParameterError` listing the valid names (and a close match);
    - a wrong type, a value outside ``min``..``max`` or not among the choices raises
      :class:`ParameterError` naming the parameter and the allowed values.

    The result keeps the manifest's parameter order.
    """
    known = {spec.name for spec in manifest.parameters}
    for name in raw:
        if name not in known:
            raise ParameterError(_unknown_message(manifest, name))
    values: dict[str, ParamValue] = {}
    for spec in manifest.parameters:
        values[spec.name] = convert_value(spec, raw[spec.name], manifest.id) if spec.name in raw else spec.default
    return ParamValues(values)


def parse_param_assignments(items: Sequence[str]) -> dict[str, str]:
    """Split command-line ``NAME=VALUE`` items (``["sigma=25", "mode=fast"]``) into a dict.

    The value is everything after the first ``=`` (it may itself contain ``=``); surrounding
    spaces are stripped. A missing ``=``, an empty name or a name given twice raises
    :class:`ParameterError`.
    """
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"parameter '{item}' is not NAME=VALUE, e.g. --param sigma=25")
        if name in result:
            raise ParameterError(f"parameter '{name}' is given twice ({name}={result[name]} and {item})")
        result[name] = value.strip()
    return result


def convert_value(spec: ParamSpec, value: ParamValue, plugin_id: str = "?") -> ParamValue:
    """``value`` checked and converted to the type of ``spec`` (see :func:`resolve_params`)."""
    where = f"parameter '{spec.name}' of filter '{plugin_id}'"
    if spec.allow_auto and isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    if spec.type is ParamType.BOOL:
        return _to_bool(value, where)
    if spec.type is ParamType.CHOICE:
        return _to_choice(spec, value, where)
    number = _to_number(spec, value, where)
    _check_range(spec, number, where)
    return number


def describe_range(spec: ParamSpec) -> str:
    """Short human text for the accepted values of ``spec`` (``"0..2"``, ``"fast | slow"``, ``"true | false"``)."""
    if spec.type is ParamType.BOOL:
        text = "true | false"
    elif spec.type is ParamType.CHOICE:
        text = " | ".join(str(c) for c in spec.choices)
    else:
        low = "-inf" if spec.minimum is None else f"{spec.minimum:g}"
        high = "inf" if spec.maximum is None else f"{spec.maximum:g}"
        text = f"{low}..{high}"
    return text + (" | auto" if spec.allow_auto else "")


def _unknown_message(manifest: Manifest, name: str) -> str:
    valid = [spec.name for spec in manifest.parameters]
    if not valid:
        return f"filter '{manifest.id}' has no parameter '{name}' (it takes no parameters)"
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"filter '{manifest.id}' has no parameter '{name}'{hint}; valid parameters: {', '.join(valid)}"


def _to_bool(value: ParamValue, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ParameterError(f"{where} must be true or false, got {value!r}")


def _to_choice(spec: ParamSpec, value: ParamValue, where: str) -> ParamValue:
    if not isinstance(value, bool):
        text = str(value).strip()
        for choice in spec.choices:
            if str(choice) == text:
                return choice
    allowed = ", ".join(str(c) for c in spec.choices)
    raise ParameterError(f"{where} must be one of {allowed}; got {value!r}")


def _to_number(spec: ParamSpec, value: ParamValue, where: str) -> float | int:
    kind = "an integer" if spec.type is ParamType.INT else "a number"
    auto = " or 'auto'" if spec.allow_auto else ""
    if isinstance(value, bool):
        raise ParameterError(f"{where} must be {kind}{auto}, got {value!r}")
    number: float | int
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text) if spec.type is ParamType.INT else float(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ParameterError(f"{where} must be {kind}{auto}, got {value!r}") from None
    elif isinstance(value, (int, float)):
        number = value
    else:
        raise ParameterError(f"{where} must be {kind}{auto}, got {value!r}")
    if isinstance(number, float) and not math.isfinite(number):
        raise ParameterError(f"{where} must be a finite number, got {value!r}")
    if spec.type is ParamType.INT:
        if isinstance(number, float):
            if not number.is_integer():
                raise ParameterError(f"{where} must be an integer, got {value!r}")
            number = int(number)
        return number
    return float(number)


def _check_range(spec: ParamSpec, number: float | int, where: str) -> None:
    if (spec.minimum is not None and number < spec.minimum) or (spec.maximum is not None and number > spec.maximum):
        raise ParameterError(f"{where} is {number!r}, outside its range {describe_range(spec)}")
