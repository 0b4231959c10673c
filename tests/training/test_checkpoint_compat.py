"""Checkpoints written before the redesign (issue 17) still resume and export.

``fixtures/compat_v1`` was written by the code of commit c2c3f5b (before the layering):
``clarity train --config config.toml --steps 2`` on the images :func:`make_images` draws
(3 train, 1 val, seeds 1 and 2), i.e. a tiny ``plugins.denoise.model:denoise_net`` with a
noise map, stopped at step 2 of 4. ``step4_weights.safetensors`` holds the ``model.`` and
``ema.`` tensors the same code reached at step 4 after ``clarity train --resume``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.cli.main import main as clarity
from engine.core.hashing import sha256_file
from engine.training.checkpoint import read_meta
from engine.training.registry import LEGACY_ARCHES, build_model, resolve_arch
from plugins.nets.weather import weather_net
from tests.training.test_trainer import make_images

FIXTURE = Path(__file__).parent / "fixtures" / "compat_v1"


@pytest.fixture
def old_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture's step-2 checkpoint in ``tmp_path/.runs/compat`` with its data beside it (cwd = tmp_path)."""
    make_images(tmp_path / "train", 3, 24, seed=1, channels=3)
    make_images(tmp_path / "val", 1, 24, seed=2, channels=3)
    run = tmp_path / ".runs" / "compat"
    run.mkdir(parents=True)
    for name in ("last.safetensors", "last.json"):
        shutil.copy(FIXTURE / name, run / name)
    monkeypatch.chdir(tmp_path)
    return run


def test_old_checkpoint_resumes_to_the_old_codes_weights(old_run: Path) -> None:
    assert read_meta(old_run / "last.json").step == 2
    assert clarity(["train", "--resume", str(old_run), "--quiet"]) == 0
    got = load_file(str(old_run / "last.safetensors"))
    want = load_file(str(FIXTURE / "step4_weights.safetensors"))
    assert read_meta(old_run / "last.json").step == 4
    assert sorted(k for k in got if k.startswith(("ema.", "model."))) == sorted(want)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=1e-5, msg=key)


def test_old_checkpoint_exports_into_a_plugin(old_run: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "plugin.toml").write_text(
        '# kept comment\nid = "tiny-denoise"\n\n[[weights]]\nname = "gaussian"  # entry\nfile = "g.safetensors"\nsha256 = ""\n',
        encoding="utf-8",
    )
    assert clarity(["export", "--ckpt", str(old_run / "last.safetensors"), "--plugin-dir", str(plugin)]) == 0
    text = (plugin / "plugin.toml").read_text(encoding="utf-8")
    digest = sha256_file(plugin / "g.safetensors")
    assert text == (
        f'# kept comment\nid = "tiny-denoise"\n\n[[weights]]\nname = "gaussian"  # entry\nfile = "g.safetensors"\nsha256 = "{digest}"\n'
    )
    exported = load_file(str(plugin / "g.safetensors"))
    ema = {k[4:]: v for k, v in load_file(str(FIXTURE / "last.safetensors")).items() if k.startswith("ema.")}
    assert sorted(exported) == sorted(ema)
    for key, value in ema.items():
        assert torch.equal(exported[key], value), key
    assert sorted(p.name for p in plugin.iterdir()) == ["MODEL.md", "g.safetensors", "plugin.toml"]


@pytest.mark.parametrize("old", sorted(LEGACY_ARCHES))
def test_moved_network_names_stored_in_checkpoints_still_resolve(old: str) -> None:
    """The weather plugins lost their model.py; configs stored in checkpoints still name it."""
    assert resolve_arch(old) is weather_net
    assert set(build_model(old, {}).state_dict()) == set(weather_net().state_dict())
