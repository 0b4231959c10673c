"""resolve_params / parse_param_assignments: typed values from CLI strings, exact errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import ParameterError
from plugins.manifest import load_manifest
from plugins.params import parse_param_assignments, resolve_params
from tests.plugin_factory import write_tiny_plugin

EXTRA = (
    '\n[[parameters]]\nname = "sigma"\ntype = "float"\nmin = 0\nmax = 75\ndefault = "auto"\nauto = true\n'
    '\n[[parameters]]\nname = "mode"\ntype = "choice"\nchoices = ["fast", "best"]\ndefault = "best"\n'
    '\n[[parameters]]\nname = "keep"\ntype = "bool"\ndefault = false\n'
    '\n[[parameters]]\nname = "passes"\ntype = "int"\nmin = 1\nmax = 4\ndefault = 2\n'
)


@pytest.fixture
def manifest(plugin_dir: Path):
    return load_manifest(write_tiny_plugin(plugin_dir, extra_toml=EXTRA))


def test_defaults_fill_missing_values_in_manifest_order(manifest) -> None:
    values = resolve_params(manifest, {})
    assert list(values.values) == ["amount", "sigma", "mode", "keep", "passes"]
    assert dict(values.values) == {"amount": 1.0, "sigma": "auto", "mode": "best", "keep": False, "passes": 2}


def test_strings_from_the_command_line_are_typed(manifest) -> None:
    raw = {"amount": "0.5", "sigma": "25", "mode": "fast", "keep": "yes", "passes": "3"}
    values = resolve_params(manifest, raw)
    assert values.get("amount") == 0.5 and isinstance(values.get("amount"), float)
    assert values.get("sigma") == 25.0
    assert values.get("mode") == "fast"
    assert values.get("keep") is True
    assert values.get("passes") == 3 and isinstance(values.get("passes"), int)
    assert resolve_params(manifest, {"sigma": "AUTO", "keep": "false", "passes": 4.0}).values["sigma"] == "auto"


def test_typed_values_pass_through(manifest) -> None:
    values = resolve_params(manifest, {"amount": 2, "keep": True, "passes": 1})
    assert (values.get("amount"), values.get("keep"), values.get("passes")) == (2.0, True, 1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"amont": "1"}, "filter 'tiny' has no parameter 'amont' (did you mean 'amount'?); valid parameters: amount, sigma, mode, keep, passes"),
        ({"amount": "2.5"}, "parameter 'amount' of filter 'tiny' is 2.5, outside its range 0..2"),
        ({"amount": "-0.1"}, "outside its range 0..2"),
        ({"amount": "lots"}, "parameter 'amount' of filter 'tiny' must be a number, got 'lots'"),
        ({"amount": "auto"}, "must be a number, got 'auto'"),
        ({"amount": "nan"}, "must be a finite number"),
        ({"amount": True}, "must be a number"),
        ({"sigma": "80"}, "outside its range 0..75 | auto"),
        ({"mode": "slow"}, "parameter 'mode' of filter 'tiny' must be one of fast, best; got 'slow'"),
        ({"keep": "maybe"}, "parameter 'keep' of filter 'tiny' must be true or false, got 'maybe'"),
        ({"passes": "2.5"}, "must be an integer, got '2.5'"),
        ({"passes": "9"}, "is 9, outside its range 1..4"),
    ],
)
def test_bad_values_raise_parameter_error(manifest, raw, message) -> None:
    with pytest.raises(ParameterError) as exc:
        resolve_params(manifest, raw)
    assert message in str(exc.value)


def test_scale_choice_accepts_integer_text(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir, "sr", kind="sr", task="super-resolution", scale=2)
    path = folder / "plugin.toml"
    path.write_text(
        path.read_text().replace("scale = 2", "scale = [2, 4]")
        + '\n[[parameters]]\nname = "scale"\ntype = "choice"\nchoices = [2, 4]\ndefault = 2\n'
    )
    manifest = load_manifest(path)
    assert resolve_params(manifest, {"scale": "4"}).get("scale") == 4
    with pytest.raises(ParameterError, match="must be one of 2, 4; got '3'"):
        resolve_params(manifest, {"scale": "3"})


def test_parse_param_assignments() -> None:
    assert parse_param_assignments(["sigma=25", " mode = fast ", "expr=a=b"]) == {"sigma": "25", "mode": "fast", "expr": "a=b"}
    assert parse_param_assignments([]) == {}
    with pytest.raises(ParameterError, match="'sigma' is not NAME=VALUE"):
        parse_param_assignments(["sigma"])
    with pytest.raises(ParameterError, match="not NAME=VALUE"):
        parse_param_assignments(["=3"])
    with pytest.raises(ParameterError, match="'sigma' is given twice"):
        parse_param_assignments(["sigma=1", "sigma=2"])
