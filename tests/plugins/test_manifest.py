"""plugin.toml parsing and validation: every error names the file and the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.core.errors import ManifestError
from plugins.api import ParamType, Task, TilingPolicy
from plugins.manifest import load_manifest
from tests.plugin_factory import sha256_of, write_tiny_plugin


def _replace(folder: Path, old: str, new: str) -> Path:
    path = folder / "plugin.toml"
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in manifest"
    path.write_text(text.replace(old, new, 1))
    return path


def test_valid_manifest_fields(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir, "tiny", context=5, size_multiple=4, min_tile=0)
    m = load_manifest(folder / "plugin.toml")
    assert (m.id, m.name, m.version, m.task, m.menu) == ("tiny", "Tiny", "0.1.0", Task.DENOISE, "Tiny")
    assert m.folder == folder
    assert m.entry == "model:build"
    assert m.license == "MIT"
    assert m.scales == (1,) and m.channels == (3,)
    assert m.fp16 is True and m.bf16 is True
    assert m.tiling.policy is TilingPolicy.TILED
    assert (m.tiling.context, m.tiling.size_multiple, m.tiling.min_tile) == (5, 4, 0)
    (p,) = m.parameters
    assert (p.name, p.type, p.minimum, p.maximum, p.step, p.default, p.label) == (
        "amount", ParamType.FLOAT, 0.0, 2.0, 0.05, 1.0, "Amount"
    )
    (w,) = m.weights
    assert (w.name, w.file, w.sha256, w.url) == ("main", "weights.safetensors", sha256_of(folder / "weights.safetensors"), None)
    assert load_manifest(folder) == m  # a folder path works too


def test_several_scales_need_a_scale_choice_parameter(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir, "sr", kind="sr", task="super-resolution", scale=2)
    path = _replace(folder, "scale = 2", "scale = [2, 3, 4]")
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    assert exc.value.field == "scale" and "choice" in str(exc.value)
    path.write_text(
        path.read_text()
        + '\n[[parameters]]\nname = "scale"\ntype = "choice"\nchoices = [2, 3, 4]\ndefault = 4\n'
    )
    m = load_manifest(path)
    assert m.scales == (2, 3, 4) and m.max_scale == 4
    assert m.parameter("scale").choices == (2, 3, 4) and m.parameter("scale").default == 4


def test_auto_default_and_choice_and_bool_parameters(plugin_dir: Path) -> None:
    extra = (
        '\n[[parameters]]\nname = "sigma"\ntype = "float"\nmin = 0\nmax = 75\ndefault = "auto"\nauto = true\n'
        '\n[[parameters]]\nname = "mode"\ntype = "choice"\nchoices = ["fast", "best"]\n'
        '\n[[parameters]]\nname = "keep"\ntype = "bool"\ndefault = false\n'
        '\n[[parameters]]\nname = "passes"\ntype = "int"\nmin = 1\nmax = 4\ndefault = 2\n'
    )
    m = load_manifest(write_tiny_plugin(plugin_dir, extra_toml=extra))
    assert [p.name for p in m.parameters] == ["amount", "sigma", "mode", "keep", "passes"]
    assert m.parameter("sigma").default == "auto" and m.parameter("sigma").allow_auto
    assert m.parameter("mode").default == "fast"  # first choice when no default
    assert m.parameter("keep").default is False
    assert m.parameter("passes").default == 2 and isinstance(m.parameter("passes").default, int)


BAD_EDITS = [
    # (old text, new text, expected field, words expected in the message)
    ('id = "tiny"', 'id = "Tiny_Net"', "id", "lowercase"),
    ('id = "tiny"\n', "", "id", "missing"),
    ('name = "Tiny"', "name = 3", "name", "string"),
    ('task = "denoise"', 'task = "sharpen"', "task", "super-resolution"),
    ('version = "0.1.0"', 'version = "0.1.0"\nvresion = "1"', "vresion", "typo"),
    ("scale = 1", 'scale = "2"', "scale", "integer"),
    ("channels = [3]", "channels = [4]", "channels", "{1, 3}"),
    ("channels = [3]", "channels = [3.0]", "channels", "{1, 3}"),
    ("fp16 = true", 'fp16 = "yes"', "fp16", "true or false"),
    ('policy = "tiled"', 'policy = "tiles"', "tiling.policy", "min-tile"),
    ("context = 3", "context = -1", "tiling.context", ">= 0"),
    ("context = 3", "contxt = 3", "tiling.contxt", "unknown key"),
    ("size_multiple = 1", "size_multiple = 0", "tiling.size_multiple", ">= 1"),
    ("default = 1.0", "default = 3.0", "parameters.amount.default", "outside the range 0..2"),
    ("default = 1.0", 'default = "auto"', "parameters.amount.default", "number"),
    ('type = "float"', 'type = "double"', "parameters.amount.type", "choice"),
    ("min = 0.0", "min = 5.0", "parameters.amount.min", "greater than max"),
    ('entry = "model:build"', 'entry = "model"', "entry", "module:function"),
    ('entry = "model:build"', 'entry = "../model:build"', "entry", "module:function"),
    ('entry = "model:build"', 'entry = "net:build"', "entry", "net.py"),
    ('file = "weights.safetensors"', 'file = "../weights.safetensors"', "weights[0].file", "outside"),
    ('file = "weights.safetensors"', 'file = "/etc/passwd.safetensors"', "weights[0].file", "relative"),
    ('file = "weights.safetensors"', 'file = "weights.pt"', "weights[0].file", "pickled"),
    ('file = "weights.safetensors"', 'file = "weights.safetensors"\nurl = "ftp://x/y"', "weights[0].url", "http"),
    ('sha256 = "', 'sha256 = "12', "weights[0].sha256", "64 hex"),
]


@pytest.mark.parametrize(("old", "new", "field", "words"), BAD_EDITS, ids=[e[2] + ":" + e[1][:20] for e in BAD_EDITS])
def test_invalid_manifest_names_file_and_field(plugin_dir: Path, old: str, new: str, field: str, words: str) -> None:
    path = _replace(write_tiny_plugin(plugin_dir), old, new)
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    assert exc.value.field == field
    assert exc.value.path == path
    text = str(exc.value)
    assert text.startswith(f"{path}: field '{field}': ")
    assert words in text
    assert "\n" not in text


def test_toml_syntax_error_names_the_file(plugin_dir: Path) -> None:
    path = _replace(write_tiny_plugin(plugin_dir), 'name = "Tiny"', 'name = "Tiny')
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    assert str(exc.value).startswith(f"{path}: TOML syntax error")
    assert exc.value.field is None


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "nowhere" / "plugin.toml")


def test_duplicate_parameter_name(plugin_dir: Path) -> None:
    extra = '\n[[parameters]]\nname = "amount"\ntype = "int"\ndefault = 1\n'
    with pytest.raises(ManifestError) as exc:
        load_manifest(write_tiny_plugin(plugin_dir, extra_toml=extra))
    assert exc.value.field == "parameters[1].name" and "twice" in str(exc.value)


def test_bool_is_not_an_int_default(plugin_dir: Path) -> None:
    extra = '\n[[parameters]]\nname = "passes"\ntype = "int"\nmin = 1\nmax = 3\ndefault = true\n'
    with pytest.raises(ManifestError) as exc:
        load_manifest(write_tiny_plugin(plugin_dir, extra_toml=extra))
    assert exc.value.field == "parameters.passes.default"


def test_choice_default_must_be_a_choice(plugin_dir: Path) -> None:
    extra = '\n[[parameters]]\nname = "mode"\ntype = "choice"\nchoices = ["a", "b"]\ndefault = "c"\n'
    with pytest.raises(ManifestError, match=r"'c' is not one of the choices \['a', 'b'\]"):
        load_manifest(write_tiny_plugin(plugin_dir, extra_toml=extra))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_escaping_the_folder_is_refused(plugin_dir: Path, tmp_path: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes((folder / "weights.safetensors").read_bytes())
    (folder / "linked.safetensors").symlink_to(outside)
    path = _replace(folder, 'file = "weights.safetensors"', 'file = "linked.safetensors"')
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    assert exc.value.field == "weights[0].file" and "outside the plugin folder" in str(exc.value)


def test_symlinked_entry_module_escaping_is_refused(plugin_dir: Path, tmp_path: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    outside = tmp_path / "evil.py"
    outside.write_text("raise SystemExit('should never run')\n")
    (folder / "model.py").unlink()
    (folder / "model.py").symlink_to(outside)
    with pytest.raises(ManifestError) as exc:
        load_manifest(folder / "plugin.toml")
    assert exc.value.field == "entry"


def test_empty_sha_allowed_for_untrained_weights(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    (folder / "weights.safetensors").unlink()
    path = folder / "plugin.toml"
    text = path.read_text()
    start = text.index('sha256 = "')
    end = text.index('"', start + 10)
    path.write_text(text[:start] + 'sha256 = ""' + text[end + 1 :])
    assert load_manifest(path).weights[0].sha256 == ""


def test_any_toml_value_in_any_field_gives_manifest_error_or_manifest(plugin_dir: Path) -> None:
    """Property: whatever value a field holds, load_manifest returns or raises ManifestError only."""
    import tomllib
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from plugins.manifest import manifest_from_dict

    folder = write_tiny_plugin(plugin_dir)
    path = folder / "plugin.toml"
    base = tomllib.loads(path.read_text())
    scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8))
    values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=6)
    fields = st.sampled_from(
        ["id", "name", "task", "scale", "channels", "fp16", "tiling", "parameters", "weights", "entry",
         "tiling.policy", "tiling.context", "parameters.0.default", "parameters.0.min", "parameters.0.type",
         "parameters.0.choices", "weights.0.file", "weights.0.sha256"]
    )

    @settings(max_examples=60, deadline=None, database=None)
    @given(field=fields, value=values)
    def check(field: str, value: object) -> None:
        data = tomllib.loads(path.read_text())
        target, *rest = field.split(".")
        if not rest:
            data[target] = value
        elif rest[0] == "0":
            data[target][0][rest[1]] = value
        else:
            data[target][rest[0]] = value
        try:
            manifest_from_dict(data, path)
        except ManifestError as exc:
            assert str(exc).startswith(str(path))

    assert manifest_from_dict(base, path).id == "tiny"
    check()
