"""`clarity plugin new`: the template plugin is discovered, loads, and is an identity filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.core.errors import PluginError
from plugins.api import PluginSource, Task, TilingPolicy, WeightsStatus
from plugins.manifest import load_manifest
from plugins.params import resolve_params
from plugins.registry import PluginRegistry
from plugins.scaffold import scaffold_plugin, slugify
from tests.plugin_factory import sha256_of


def test_slugify() -> None:
    assert slugify("My Denoiser 2") == "my-denoiser-2"
    assert slugify("  Über_Clean!! ") == "ber-clean"


def test_cli_new_into_user_folder_then_discover_load_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import torch

    user = tmp_path / "user-plugins"
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(user))
    assert main(["plugin", "new", "My Clean"]) == 0
    folder = user / "my-clean"
    assert f"created plugin 'my-clean' in {folder}" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL.md", "model.py", "plugin.toml", "weights.safetensors"]
    manifest = load_manifest(folder)
    assert manifest.weights[0].sha256 == sha256_of(folder / "weights.safetensors")
    assert manifest.task is Task.DENOISE and manifest.tiling.policy is TilingPolicy.TILED

    registry = PluginRegistry(builtin_dir=tmp_path / "none", entry_points=False)
    info = registry.info("my-clean")
    assert info.source is PluginSource.USER and info.status is WeightsStatus.OK
    restorer = registry.load("my-clean")
    x = torch.rand(2, 3, 9, 11)
    with torch.no_grad():
        y = restorer.forward(x, resolve_params(manifest, {}))
    assert torch.equal(y, x)  # zero-initialised residual: identity until trained


def test_super_resolution_template_is_nearest_upscaler(tmp_path: Path) -> None:
    import torch

    folder = scaffold_plugin("Up Two", tmp_path, task="super-resolution")
    manifest = load_manifest(folder)
    assert manifest.scales == (2,)
    restorer = PluginRegistry(builtin_dir=tmp_path, user_dirs=[], entry_points=False).load("up-two")
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        y = restorer.forward(x, resolve_params(manifest, {}))
    assert y.shape == (1, 3, 10, 14)
    assert torch.equal(y, x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))


def test_existing_folder_refused_and_bad_task(tmp_path: Path) -> None:
    scaffold_plugin("Twice", tmp_path)
    with pytest.raises(PluginError, match="already exists and is not empty"):
        scaffold_plugin("Twice", tmp_path)
    scaffold_plugin("Twice", tmp_path, overwrite=True)
    with pytest.raises(PluginError, match="unknown task 'blur'; use one of: denoise, super-resolution"):
        scaffold_plugin("Other", tmp_path, task="blur")
    assert main(["plugin", "new", "!!!", "--dir", str(tmp_path)]) == 2


def test_plugin_check_and_hash_commands(tmp_path: Path, capsys) -> None:
    folder = scaffold_plugin("Checked", tmp_path, task="dehaze")
    assert main(["plugin", "check", str(folder)]) == 0
    assert capsys.readouterr().out == "checked: manifest ok; weights ok\n"
    assert main(["plugin", "hash", str(folder / "weights.safetensors")]) == 0
    assert capsys.readouterr().out == f"{sha256_of(folder / 'weights.safetensors')}  {folder / 'weights.safetensors'}\n"
    (folder / "weights.safetensors").write_bytes(b"changed")
    assert main(["plugin", "check", str(folder)]) == 1
    assert "weights hash mismatch" in capsys.readouterr().out
