"""Export: a real tiny run exported into a plugin folder; TOML edited in place; model card."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.cli.main import main as clarity
from engine.training.config import TrainConfig
from engine.training.export import ExportError, export_checkpoint, render_eval_tables, set_weights_sha256
from engine.training.trainer import Trainer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

sys.path.insert(0, str(Path(__file__).parent))
from test_trainer import arch_module, write_config  # noqa: F401

MANIFEST = textwrap.dedent('''\
    id = "tiny"   # keep this comment
    name = "Tiny"
    entry = "model:build"

    [tiling]
    policy = "tiled"

    [[weights]]
    name = "gray"
    file = "gray.safetensors"
    sha256 = ""   # filled by clarity export

    [[weights]]
    name = "color"
    file = "color.safetensors"
    sha256 = ""
    url = "https://example.org/c.safetensors"
''')


def test_set_weights_sha256_edits_only_that_entry() -> None:
    sha = "ab" * 32
    new, file_name = set_weights_sha256(MANIFEST, "color", sha, "unused.safetensors")
    assert file_name == "color.safetensors"
    changed = [(a, b) for a, b in zip(MANIFEST.splitlines(), new.splitlines()) if a != b]
    assert changed == [('sha256 = ""', f'sha256 = "{sha}"')]
    new2, _ = set_weights_sha256(new, "gray", "cd" * 32, "x")
    assert 'sha256 = "' + "cd" * 32 + '"   # filled by clarity export' in new2
    added, name = set_weights_sha256(MANIFEST, "main", sha, "main.safetensors")
    entries = tomllib.loads(added)["weights"]
    assert name == "main.safetensors" and entries[-1] == {"name": "main", "file": "main.safetensors", "sha256": sha}
    assert added.startswith(MANIFEST.rstrip("\n"))


def test_eval_table_renders_reports_and_rejects_other_json(tmp_path: Path) -> None:
    rep = {"method": "plugin:tiny", "dataset": "set12", "degrade": "awgn:25", "metric_space": "rgb", "shave": 0,
           "mean": {"psnr": 29.123, "ssim": 0.83456, "baseline_psnr": 20.17, "baseline_ssim": 0.3}, "images": [{}, {}]}
    f = tmp_path / "e.json"
    f.write_text(json.dumps([rep]))
    table = render_eval_tables([f])
    assert "| set12 | awgn:25 | plugin:tiny | rgb | 29.12 | 0.8346 | 20.17 | 0.3000 | 2 |" in table
    f.write_text('{"x": 1}')
    with pytest.raises(ExportError, match="clarity eval --json"):
        render_eval_tables([f])


def test_export_run_into_plugin_folder(tmp_path: Path, arch_module: str) -> None:  # noqa: F811
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=3))
    res = Trainer(cfg, tmp_path / "run", device="cpu", command="clarity train --config cfg.toml", log=None).run()
    plugin = tmp_path / "plugins" / "tiny"
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text(MANIFEST)
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps({"method": "m", "dataset": "d", "degrade": "awgn:25", "mean": {"psnr": 30.0, "ssim": 0.9}}))
    out = export_checkpoint(tmp_path / "run", plugin, weights_name="gray", fp16=True, eval_json=[ev])
    assert out.checkpoint == res.best_checkpoint and out.source == "ema"
    w = load_file(str(plugin / "gray.safetensors"))
    ckpt = load_file(str(res.best_checkpoint))
    assert set(w) == {"head.weight", "head.bias", "tail.weight", "tail.bias"}
    assert all(v.dtype == torch.float16 for v in w.values())
    assert torch.allclose(w["head.weight"].float(), ckpt["ema.head.weight"], atol=1e-3)
    digest = hashlib.sha256((plugin / "gray.safetensors").read_bytes()).hexdigest()
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((plugin / "gray.safetensors").stat().st_mode) == 0o666 & ~umask  # not safetensors' 0600
    entries = tomllib.loads((plugin / "plugin.toml").read_text())["weights"]
    assert entries[0]["sha256"] == digest and entries[1]["sha256"] == ""
    card = (plugin / "MODEL.md").read_text()
    assert "| parameters | 77 |" in card  # (1*4*9 + 4) + (4*1*9 + 1)
    assert "clarity train --config cfg.toml" in card and "| d | awgn:25 | m |" in card and f"`{digest}`" in card


def _two_step_run_and_plugin(tmp_path: Path, arch_module: str) -> Path:
    """A finished 2-step run in ``tmp_path/run`` and a plugin folder holding only :data:`MANIFEST`."""
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=2))
    Trainer(cfg, tmp_path / "run", device="cpu", command="clarity train", log=None).run()
    plugin = tmp_path / "plugins" / "tiny"
    plugin.mkdir(parents=True)
    (plugin / "plugin.toml").write_text(MANIFEST)
    return plugin


def test_unreadable_eval_json_writes_nothing(tmp_path: Path, arch_module: str) -> None:  # noqa: F811
    """The eval tables are read before the weights or the manifest change: a typo in --eval-json leaves the plugin as it was."""
    plugin = _two_step_run_and_plugin(tmp_path, arch_module)
    with pytest.raises(ExportError, match="cannot be read"):
        export_checkpoint(tmp_path / "run", plugin, weights_name="gray", eval_json=[tmp_path / "missing.json"])
    assert sorted(p.name for p in plugin.iterdir()) == ["plugin.toml"]
    assert (plugin / "plugin.toml").read_text() == MANIFEST


def test_export_is_byte_reproducible(tmp_path: Path, arch_module: str) -> None:  # noqa: F811
    plugin = _two_step_run_and_plugin(tmp_path, arch_module)
    digests = {export_checkpoint(tmp_path / "run", plugin, weights_name="gray", fp16=True).sha256 for _ in range(4)}
    assert len(digests) == 1  # safetensors alone writes the metadata in a varying order
    data = (plugin / "gray.safetensors").read_bytes()
    header = data[8 : 8 + int.from_bytes(data[:8], "little")]
    assert header.startswith(b'{"__metadata__":{"arch":"') and b'"source":"ema","step":"2"}' in header
    assert load_file(str(plugin / "gray.safetensors"))["head.weight"].dtype == torch.float16


def test_model_card_merge_keeps_hand_written_text_and_other_entries() -> None:
    from engine.training.export import merge_model_card

    base = "# DnCNN\n\n## Architecture\n17 layers.\n"
    with_gray = merge_model_card(base, "gray", "## Training card: gray v1")
    with_both = merge_model_card(with_gray, "color", "## Training card: color v1")
    again = merge_model_card(with_both, "gray", "## Training card: gray v2")
    assert again.startswith(base.rstrip())
    assert "gray v2" in again and "gray v1" not in again and "color v1" in again
    assert again.count("clarity-export:gray begin") == 1 and again.index("gray v2") < again.index("color v1")


def test_export_cli_errors_and_no_ema(tmp_path: Path, arch_module: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=2, val=False))
    res = Trainer(cfg, tmp_path / "run", device="cpu", log=None).run()
    plugin = tmp_path / "p"
    plugin.mkdir()
    assert clarity(["export", "--ckpt", str(res.last_checkpoint), "--plugin-dir", str(plugin)]) == 2
    assert "plugin.toml" in capsys.readouterr().err
    (plugin / "plugin.toml").write_text(MANIFEST)
    assert clarity(["export", "--ckpt", str(tmp_path / "run"), "--plugin-dir", str(plugin), "--no-ema"]) == 0
    w = load_file(str(plugin / "main.safetensors"))
    ck = load_file(str(res.last_checkpoint))
    assert torch.equal(w["tail.bias"], ck["model.tail.bias"]) and not torch.equal(w["tail.bias"], ck["ema.tail.bias"])
    assert tomllib.loads((plugin / "plugin.toml").read_text())["weights"][2]["name"] == "main"
    reports = []
    for k, level in enumerate(("awgn:15", "awgn:25", "awgn:50")):
        reports.append(tmp_path / f"e{k}.json")
        reports[-1].write_text(json.dumps({"method": "m", "dataset": "d", "degrade": level, "mean": {"psnr": 30.0, "ssim": 0.9}}))
    flags = ["--eval-json", str(reports[0]), str(reports[1]), "--eval-json", str(reports[2])]  # both spellings add up
    assert clarity(["export", "--ckpt", str(tmp_path / "run"), "--plugin-dir", str(plugin), *flags]) == 0
    card = (plugin / "MODEL.md").read_text()
    assert all(f"| d | {level} | m |" in card for level in ("awgn:15", "awgn:25", "awgn:50"))


def test_export_refuses_weights_of_another_network(tmp_path: Path, arch_module: str) -> None:  # noqa: F811
    """A checkpoint of one network is never written under an entry that names another (nothing is touched)."""
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=2, val=False))
    res = Trainer(cfg, tmp_path / "run", device="cpu", log=None).run()
    plugin = tmp_path / "p"
    plugin.mkdir()
    manifest = MANIFEST.replace('name = "gray"', 'name = "gray"\nnetwork = "plugins.upscale_rednet.model:rednet30"')
    (plugin / "plugin.toml").write_text(manifest)
    with pytest.raises(ExportError, match=f"rednet30.*trained as '{cfg.model.arch}'.*set network"):
        export_checkpoint(res.last_checkpoint, plugin, weights_name="gray")
    assert not (plugin / "gray.safetensors").exists() and (plugin / "plugin.toml").read_text() == manifest
    ok = manifest.replace("plugins.upscale_rednet.model:rednet30", cfg.model.arch)
    (plugin / "plugin.toml").write_text(ok)
    assert export_checkpoint(res.last_checkpoint, plugin, weights_name="gray").weights_path.name == "gray.safetensors"


def test_export_checks_shapes_when_training_args_or_another_factory_are_involved(
    tmp_path: Path, arch_module: str  # noqa: F811
) -> None:
    """Trained as ``tiny`` with ``features = 6``: refused under ``tiny`` (built with 4), accepted under ``tiny_wide``."""
    path = write_config(tmp_path, arch_module, steps=2, val=False)
    path.write_text(path.read_text().replace("features = 4", "features = 6"))
    res = Trainer(TrainConfig.from_toml(path), tmp_path / "run", device="cpu", log=None).run()
    plugin = tmp_path / "p"
    plugin.mkdir()
    manifest = MANIFEST.replace('name = "gray"', f'name = "gray"\nnetwork = "{arch_module}:tiny"')
    (plugin / "plugin.toml").write_text(manifest)
    with pytest.raises(ExportError, match=r"with model.args \{'features': 6\}, which that network cannot load \(other shapes"):
        export_checkpoint(res.last_checkpoint, plugin, weights_name="gray")
    assert not (plugin / "gray.safetensors").exists() and (plugin / "plugin.toml").read_text() == manifest
    (plugin / "plugin.toml").write_text(manifest.replace(f"{arch_module}:tiny", f"{arch_module}:tiny_wide"))
    weights = export_checkpoint(res.last_checkpoint, plugin, weights_name="gray").weights_path
    assert load_file(str(weights))["head.weight"].shape == (6, 1, 3, 3)


def test_exported_weights_load_through_the_plugin_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train the tiny factory plugin's own network, export into that plugin, load it like the app does."""
    from plugins.api import WeightsStatus
    from plugins.registry import PluginRegistry
    from tests.plugin_factory import MODEL_SOURCE, write_tiny_plugin

    plugin = write_tiny_plugin(tmp_path / "plugins", "tiny")
    archdir = tmp_path / "arch"
    archdir.mkdir()
    (archdir / "tiny_plugin_arch_e2e.py").write_text(MODEL_SOURCE.format(kind="conv", scale=1, sleep=0.0))
    monkeypatch.syspath_prepend(str(archdir))
    from test_trainer import make_images

    train = make_images(tmp_path / "train", 3, 24, seed=4, channels=3)
    cfg = TrainConfig.from_toml_text(textwrap.dedent(f"""
        name = "e2e"
        [model]
        arch = "tiny_plugin_arch_e2e:TinyNet"
        [data]
        train = ["{train}"]
        patch = 16
        batch = 2
        degradation = ["awgn:25"]
        [run]
        steps = 2
    """))
    res = Trainer(cfg, tmp_path / "run", device="cpu", log=None).run()
    old_sha = tomllib.loads((plugin / "plugin.toml").read_text())["weights"][0]["sha256"]
    out = export_checkpoint(res.last_checkpoint, plugin, weights_name="main")
    assert out.weights_path == (plugin / "weights.safetensors").resolve() and out.sha256 != old_sha
    reg = PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[tmp_path / "plugins"], entry_points=False)
    assert reg.info("tiny").status is WeightsStatus.OK
    net = reg.load("tiny").network
    trained = load_file(str(res.last_checkpoint))
    assert all(torch.equal(v.cpu(), trained["model." + k]) for k, v in net.state_dict().items())
