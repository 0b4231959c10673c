"""`clarity plugin import`: tiny random-weight spandrel models, imported through the CLI and run by the engine.

For every architecture: the plugin is written (manifest, safetensors + sha256, MODEL.md), the
engine's whole-image output equals spandrel's own descriptor call on the original file, and for
local architectures tiled output equals whole-image output within 1e-4; the others get a
``min-tile`` policy and the engine never runs them below the declared minimum tile.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.api import apply_filter
from engine.cli.main import main
from engine.core.types import DeviceKind, Precision, RunOptions
from plugins.api import PluginSource, Task, TilingPolicy, WeightsStatus
from plugins.community.measure import verification_geometry
from plugins.community.model_file import read_state_dict
from plugins.community.spandrel_compat import import_spandrel
from plugins.manifest import load_manifest
from plugins.registry import PluginRegistry
from engine.core.hashing import sha256_file
from tests.community.tiny_models import FACTORIES, tiny_state_dict

# architecture -> (task, scale, tiling policy expected from the measurement, file format imported)
EXPECTED: dict[str, tuple[Task, int, TilingPolicy, str]] = {
    "DnCNN": (Task.DENOISE, 1, TilingPolicy.TILED, ".pth"),
    "DRUNet": (Task.DENOISE, 1, TilingPolicy.TILED, ".safetensors"),
    "ESRGAN": (Task.SUPER_RESOLUTION, 2, TilingPolicy.TILED, ".pth"),
    "Compact": (Task.SUPER_RESOLUTION, 4, TilingPolicy.TILED, ".safetensors"),
    "SPAN": (Task.SUPER_RESOLUTION, 2, TilingPolicy.TILED, ".pth"),
    "SwinIR": (Task.SUPER_RESOLUTION, 2, TilingPolicy.MIN_TILE, ".safetensors"),  # spandrel: tiling discouraged
    "NAFNet": (Task.OTHER, 1, TilingPolicy.MIN_TILE, ".pth"),  # global channel attention: measured non-local
}
OPTIONS = {"device": DeviceKind.CPU, "precision": Precision.FP32}


def save_model(arch: str, folder: Path, suffix: str) -> Path:
    """The tiny model's state dict as ``folder/tiny-<arch><suffix>`` (.pth wrapped like BasicSR does)."""
    state = tiny_state_dict(arch)
    path = folder / f"tiny-{arch.lower()}{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"params_ema": state}, path)
    return path


def test_seven_architectures_cover_denoise_and_sr() -> None:
    assert set(EXPECTED) == set(FACTORIES)
    tasks = {task for task, *_ in EXPECTED.values()}
    assert {Task.DENOISE, Task.SUPER_RESOLUTION} <= tasks


@pytest.mark.parametrize("arch", sorted(FACTORIES))
def test_pth_and_safetensors_read_to_the_same_tensors(arch: str, tmp_path: Path) -> None:
    pth, st = save_model(arch, tmp_path, ".pth"), save_model(arch, tmp_path, ".safetensors")
    a, b = read_state_dict(pth), read_state_dict(st)
    assert sorted(a) == sorted(b) == sorted(tiny_state_dict(arch))
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
@pytest.mark.timeout(900)  # measuring + 3 engine runs; minutes only when the 2 shared cores are saturated
@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_import_through_cli_then_engine_equals_spandrel(arch: str, tmp_path: Path, capsys) -> None:
    task, scale, policy, suffix = EXPECTED[arch]
    source = save_model(arch, tmp_path, suffix)
    user = tmp_path / "user"
    plugin_id = f"tiny-{arch.lower()}"
    assert main(["plugin", "import", str(source), "--id", plugin_id, "--dir", str(user), "--license", "CC0"]) == 0
    assert f"imported plugin '{plugin_id}'" in capsys.readouterr().out

    folder = user / plugin_id
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL.md", "model.py", "plugin.toml", "weights.safetensors"]
    manifest = load_manifest(folder)
    assert (manifest.task, manifest.scales, manifest.license) == (task, (scale,), "CC0")
    assert manifest.weights[0].sha256 == sha256_file(folder / "weights.safetensors")
    assert manifest.tiling.policy is policy
    card = (folder / "MODEL.md").read_text(encoding="utf-8")
    assert source.name in card and sha256_file(source) in card and "Receptive-field radius" in card

    registry = PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[user], entry_points=False)
    info = registry.info(plugin_id)
    assert (info.source, info.status) == (PluginSource.USER, WeightsStatus.OK)

    spec = manifest.tiling
    # The import's own check geometry: 2 x 2 tiles whose input boxes are smaller than the image.
    # Odd size on purpose: engine and spandrel both reflect-pad bottom/right to the size multiple.
    tile, side = verification_geometry(spec.context, spec.size_multiple) if policy is TilingPolicy.TILED else (16, 40)
    height, width = side, side
    image = np.random.default_rng(7).random((height, width, 3), dtype=np.float32)
    whole = apply_filter(image, plugin_id, options=RunOptions(tile=0, **OPTIONS), registry=registry)
    assert whole.image.shape == (height * scale, width * scale, 3)

    descriptor = import_spandrel().ModelLoader().load_from_file(source)  # spandrel's own loading and call
    reference = descriptor(torch.from_numpy(image).permute(2, 0, 1)[None].contiguous())[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(whole.image, reference, rtol=0, atol=1e-5)

    tiled = apply_filter(image, plugin_id, options=RunOptions(tile=tile, **OPTIONS), registry=registry)
    if policy is TilingPolicy.TILED:
        assert tiled.tiles == 4 and tile + 2 * spec.context < height  # every tile sees only part of the image
        assert float(np.abs(tiled.image - whole.image).max()) <= 1e-4
    else:
        assert manifest.tiling.min_tile == 512
        assert tiled.tile == 0 or tiled.tile >= manifest.tiling.min_tile  # never below the declared minimum


def test_measured_context_is_written_and_covers_the_receptive_field(tmp_path: Path) -> None:
    # DnCNN with 4 conv layers of 3x3: radius exactly 4 px.
    source = save_model("DnCNN", tmp_path, ".safetensors")
    assert main(["plugin", "import", str(source), "--dir", str(tmp_path / "u")]) == 0
    manifest = load_manifest(tmp_path / "u" / "tiny-dncnn")
    assert manifest.tiling.context == 4 and manifest.tiling.policy is TilingPolicy.TILED
    assert manifest.fp16 is False and manifest.bf16 is True  # as spandrel declares for DnCNN
    assert manifest.license == "unknown (imported)" and manifest.name == "tiny-dncnn"


def test_min_tile_zero_means_whole_image(tmp_path: Path) -> None:
    source = save_model("SwinIR", tmp_path, ".pth")
    assert main(["plugin", "import", str(source), "--dir", str(tmp_path / "u"), "--min-tile", "0"]) == 0
    assert load_manifest(tmp_path / "u" / "tiny-swinir").tiling.policy is TilingPolicy.WHOLE


def test_list_json_shows_the_imported_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    user = tmp_path / "user"
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(user))
    source = save_model("Compact", tmp_path, ".pth")
    assert main(["plugin", "import", str(source), "--name", "Tiny Compact"]) == 0
    capsys.readouterr()
    assert main(["list", "--json"]) == 0
    entry = next(p for p in json.loads(capsys.readouterr().out)["plugins"] if p["id"] == "tiny-compact")
    assert (entry["name"], entry["status"], entry["scales"]) == ("Tiny Compact", "ok", [4])


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_imported_plugin_files_get_normal_permissions(umask: int, tmp_path: Path) -> None:
    """safetensors writes 0600 and mkdtemp 0700: the plugin must get 0666/0777 minus the umask."""
    import os
    import stat

    source = save_model("DnCNN", tmp_path, ".safetensors")
    previous = os.umask(umask)
    try:
        assert main(["plugin", "import", str(source), "--dir", str(tmp_path / "u")]) == 0
    finally:
        os.umask(previous)
    folder = tmp_path / "u" / "tiny-dncnn"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes == dict.fromkeys(["MODEL.md", "model.py", "plugin.toml", "weights.safetensors"], 0o666 & ~umask)
