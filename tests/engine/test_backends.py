"""engine.backends: ONNX Runtime on the CPU equals PyTorch, its cache, the opt-out and the auto choice."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.backends import Prepared, default_backend, onnx_cache, prepare, set_default_backend
from engine.backends import choice as choice_mod
from engine.cancel import CancelToken
from engine.core.errors import CancelledError, DeviceError, PluginError
from engine.core.types import Backend, Progress, RunOptions
from engine.device import ExecutionDevice, cpu_device
from engine.runner import run_restorer
from plugins.api import Restorer
from tests.engine.test_runner import load_tiny, values
from tests.plugin_factory import write_tiny_plugin
from tests.plugins.test_builtin_models import TILING_FOLDERS, _manifest, _params, _restorer, _variants

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run(restorer: Restorer, image: np.ndarray, backend: Backend, params: object = None, **kw: object):  # type: ignore[no-untyped-def]
    mask, progress, cancel = kw.pop("mask", None), kw.pop("progress", None), kw.pop("cancel", None)
    return run_restorer(restorer, image, params or values(restorer), mask=mask,
                        options=RunOptions(device="cpu", backend=backend, **kw), progress=progress, cancel=cancel)  # fmt: skip


def image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


@pytest.fixture
def conv(plugin_dir: Path) -> Restorer:
    return load_tiny(write_tiny_plugin(plugin_dir, "conv"))


# -- every built-in plugin (random weights): ONNX == PyTorch within 1e-4, tiled and whole ------------------------


@pytest.mark.parametrize("folder", TILING_FOLDERS)  # the heavy ones are marked slow there
def test_builtin_plugin_onnx_equals_torch_tiled_and_whole(folder: str) -> None:
    """Every network variant (scale, model) whole; the first one also tiled (2 tiles) and on a gray image.

    derain, dehaze and desnow are all-weather's restorer and network (checked in test_builtin_models).
    """
    manifest = _manifest(folder)
    restorer = _restorer(folder)
    m = max(1, manifest.tiling.size_multiple)
    tile = 2 * m if m > 1 else 8
    h, w = tile + 3, max(m, tile - 3)  # 2 tiles; odd sizes exercise the padding to the size multiple
    cases = [(3 if 3 in manifest.channels else 1, variant, 0) for variant in _variants(manifest)]
    cases += [(cases[0][0], cases[0][1], tile)] + [(1, cases[0][1], 0)] * (1 in manifest.channels)
    for channels, variant, tile_size in cases:
        img = image(h, w, channels)
        params = _params(manifest, **variant)
        ref = run(restorer, img, Backend.TORCH, params, tile=tile_size)
        got = run(restorer, img, Backend.ONNX, params, tile=tile_size)
        assert (got.backend, ref.backend) == ("onnx", "torch")
        assert got.tiles == ref.tiles == (2 if tile_size else 1)
        assert got.image.shape == ref.image.shape
        assert float(np.abs(got.image - ref.image).max()) <= 1e-4, (channels, variant, tile_size)


# -- runner behaviour is unchanged ----------------------------------------------------------------------------


def test_mask_strength_progress_and_tiles_match_torch(conv: Restorer) -> None:
    img = image(40, 52)
    mask = np.zeros((40, 52), np.float32)
    mask[5:30, 10:40] = np.linspace(0.0, 1.0, 30, dtype=np.float32)[None, :]
    seen: dict[Backend, list[Progress]] = {Backend.TORCH: [], Backend.ONNX: []}
    out = {}
    for backend in (Backend.TORCH, Backend.ONNX):
        out[backend] = run(conv, img, backend, mask=mask, strength=0.7, tile=12, progress=seen[backend].append)
    assert out[Backend.ONNX].backend == "onnx"
    assert seen[Backend.ONNX] == seen[Backend.TORCH] and len(seen[Backend.ONNX]) == out[Backend.ONNX].tiles > 1
    a, b = out[Backend.ONNX].image, out[Backend.TORCH].image
    outside = np.repeat((mask == 0)[:, :, None], 3, axis=2)
    assert np.array_equal(a[outside], img[outside])  # untouched pixels bit for bit
    assert float(np.abs(a - b).max()) <= 1e-5


def test_cancel_between_tiles_with_onnx(conv: Restorer) -> None:
    token = CancelToken()
    calls: list[int] = []

    def progress(p: Progress) -> None:
        calls.append(p.done)
        if p.done == 2:
            token.cancel()

    with pytest.raises(CancelledError):
        run(conv, image(40, 40), Backend.ONNX, tile=10, progress=progress, cancel=token)
    assert calls == [1, 2]


def test_registry_restorer_is_not_modified(conv: Restorer) -> None:
    network = conv.network
    run(conv, image(20, 20), Backend.ONNX)
    assert conv.network is network and isinstance(conv.network, torch.nn.Module)
    assert not any(m.training for m in conv.network.modules())


# -- the cache -----------------------------------------------------------------------------------------------


def _graphs(plugin_id: str) -> list[Path]:
    return sorted(onnx_cache.cache_folder(plugin_id).glob("*.onnx"))


def test_export_is_cached_and_reused_across_processes(conv: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run(conv, image(24, 24), Backend.ONNX).image
    (graph,) = _graphs(conv.manifest.id)
    meta = json.loads(graph.with_suffix(".json").read_text())
    assert meta["onnxruntime"] and meta["torch"] == torch.__version__ and meta["export_seconds"] > 0
    onnx_network = pytest.importorskip("engine.backends.onnx_network")
    onnx_network._memo.clear()  # a new process: nothing in memory

    def no_export(*a: object, **k: object) -> bytes:
        raise AssertionError("exported again although the cache is valid")

    monkeypatch.setattr(onnx_cache, "export_call", no_export)
    assert np.array_equal(run(conv, image(24, 24), Backend.ONNX).image, first)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete_record"])
def test_corrupted_cache_entry_is_rebuilt(conv: Restorer, damage: str) -> None:
    from engine.backends import onnx_network

    reference = run(conv, image(24, 24), Backend.TORCH).image
    run(conv, image(24, 24), Backend.ONNX)
    (graph,) = _graphs(conv.manifest.id)
    good = graph.read_bytes()
    if damage == "truncate":
        graph.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        graph.write_bytes(b"\x00not onnx" * 10)
    else:
        graph.with_suffix(".json").unlink()
    onnx_network._memo.clear()
    got = run(conv, image(24, 24), Backend.ONNX)
    assert float(np.abs(got.image - reference).max()) <= 1e-5
    assert graph.read_bytes() == good  # rebuilt (the export is deterministic)
    assert json.loads(graph.with_suffix(".json").read_text())["sha256"] == onnx_cache.hashlib.sha256(good).hexdigest()


def test_new_weights_get_a_new_graph(conv: Restorer) -> None:
    run(conv, image(24, 24), Backend.ONNX)
    with torch.no_grad():
        next(conv.network.parameters()).mul_(0.5)
    changed = run(conv, image(24, 24), Backend.ONNX).image
    assert len(_graphs(conv.manifest.id)) == 2
    assert float(np.abs(changed - run(conv, image(24, 24), Backend.TORCH).image).max()) <= 1e-5


def test_cache_key_depends_on_weights_call_and_versions(conv: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    sig, _ = onnx_cache.split_call((torch.zeros(1, 3, 8, 8),), {"scale": 2})
    other, _ = onnx_cache.split_call((torch.zeros(1, 3, 8, 8),), {"scale": 3})
    key = onnx_cache.cache_key("w", sig)
    assert key != onnx_cache.cache_key("w", other) and key != onnx_cache.cache_key("v", sig)
    monkeypatch.setattr(onnx_cache, "EXPORT_FORMAT", onnx_cache.EXPORT_FORMAT + 1)
    assert onnx_cache.cache_key("w", sig) != key


def test_export_that_differs_from_torch_is_refused(plugin_dir: Path) -> None:
    """A network whose traced graph freezes a size (Python branch on the shape) fails verification."""
    restorer = load_tiny(write_tiny_plugin(plugin_dir, "conv"))

    class SizeBranch(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 0.5 if x.shape[-1] > 17 else x * 0.25  # traced at 16, verified at 18 and 16

    restorer.network = SizeBranch()
    with pytest.raises(PluginError, match="differs from PyTorch"):
        run(restorer, image(24, 24), Backend.ONNX)
    onnx_auto = prepare(restorer, Backend.ONNX, cpu_device(), values(restorer), scale=1, output_pixels=0)
    onnx_auto.context.fallback = True  # what auto does: run that call in PyTorch, with a warning
    got = run_restorer(onnx_auto.restorer, image(24, 24), values(restorer), mask=None,
                       options=RunOptions(device="cpu", backend=Backend.TORCH), progress=None, cancel=None)  # fmt: skip
    assert np.array_equal(got.image, run(restorer, image(24, 24), Backend.TORCH).image)
    assert any("ONNX export failed" in w for w in onnx_auto.run_warnings())


# -- policy: opt-out, GPU, process default ------------------------------------------------------------------


def test_manifest_opt_out(conv: Restorer) -> None:
    conv.manifest = dataclasses.replace(conv.manifest, onnx=False)
    with pytest.raises(PluginError, match="onnx = false"):
        run(conv, image(20, 20), Backend.ONNX)
    assert run(conv, image(20, 20), Backend.AUTO).backend == "torch"


def test_gpu_keeps_torch_and_refuses_explicit_onnx(conv: Restorer) -> None:
    gpu = ExecutionDevice(torch.device("cpu"), "cuda:0 (pretend)", True)
    assert prepare(conv, Backend.AUTO, gpu, values(conv), scale=1, output_pixels=10**8).name == "torch"
    with pytest.raises(DeviceError, match="CPU only"):
        prepare(conv, Backend.ONNX, gpu, values(conv), scale=1, output_pixels=0)


def test_process_default_applies_when_options_leave_it_open(conv: Restorer) -> None:
    assert default_backend() is Backend.AUTO
    set_default_backend("onnx")
    try:
        assert run(conv, image(20, 20), None).backend == "onnx"  # type: ignore[arg-type]
    finally:
        set_default_backend(Backend.AUTO)


# -- auto: measured, recorded, re-checked --------------------------------------------------------------------


def test_auto_measures_records_and_rechecks(conv: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice_mod, "MEASURE_MIN_PIXELS", 0)
    monkeypatch.setattr(choice_mod, "PROBE_OUTPUT_EDGE", 32)
    small = run(conv, image(24, 24), Backend.AUTO)
    recorded = choice_mod.read_choices()[conv.manifest.id]
    assert recorded.backend == small.backend and recorded.torch_seconds > 0 and recorded.onnx_seconds > 0
    measured: list[str] = []
    real = choice_mod.measure

    def fake_measure(restorer: Restorer, params: object, **kw: object) -> choice_mod.Choice:
        measured.append(restorer.manifest.id)
        return dataclasses.replace(real(restorer, params, **kw), backend="onnx")  # type: ignore[arg-type]

    monkeypatch.setattr(choice_mod, "measure", fake_measure)
    assert run(conv, image(24, 24), Backend.AUTO).backend == recorded.backend and measured == []  # recorded: no re-measure
    with torch.no_grad():
        next(conv.network.parameters()).add_(0.01)  # new weights: measured again
    assert run(conv, image(24, 24), Backend.AUTO).backend == "onnx" and measured == [conv.manifest.id]
    monkeypatch.setattr(onnx_cache, "versions", lambda: {"onnxruntime": "99.0", "torch": "x", "opset": "17", "format": "1"})
    monkeypatch.setattr(choice_mod, "versions", onnx_cache.versions)
    run(conv, image(24, 24), Backend.AUTO)  # a new runtime: measured again
    assert measured == [conv.manifest.id] * 2


def test_auto_probes_at_the_box_the_run_computes(conv: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe is the run's tile plus context (or the whole image), capped at PROBE_OUTPUT_EDGE / scale."""
    assert choice_mod.probe_edge(conv, 1, 300) == 300
    assert choice_mod.probe_edge(conv, 1, 5000) == choice_mod.PROBE_OUTPUT_EDGE
    assert choice_mod.probe_edge(conv, 4, 5000) == choice_mod.PROBE_OUTPUT_EDGE // 4
    assert choice_mod.probe_edge(conv, 1, None) == choice_mod.PROBE_OUTPUT_EDGE
    monkeypatch.setattr(choice_mod, "MEASURE_MIN_PIXELS", 0)
    overlap = conv.manifest.tiling.context
    run(conv, image(40, 52), Backend.AUTO, tile=16)
    assert choice_mod.read_choices()[conv.manifest.id].probe.startswith(f"{16 + 2 * overlap}x{16 + 2 * overlap} input")
    choice_mod.choices_path().unlink()
    run(conv, image(40, 52), Backend.AUTO)  # one tile: the whole image
    assert choice_mod.read_choices()[conv.manifest.id].probe.startswith("52x52 input")


def test_auto_does_not_measure_small_runs(conv: Restorer) -> None:
    result = run(conv, image(24, 24), Backend.AUTO)
    assert result.backend == "torch" and choice_mod.read_choices() == {}


def test_prepared_torch_is_the_restorer_itself(conv: Restorer) -> None:
    prepared = prepare(conv, Backend.TORCH, cpu_device(), values(conv), scale=1, output_pixels=0)
    assert isinstance(prepared, Prepared) and prepared.restorer is conv and prepared.run_warnings() == []


def test_manifest_onnx_key_parses_and_is_checked(plugin_dir: Path) -> None:
    import tomllib

    from plugins.manifest import ManifestError, manifest_from_dict

    path = write_tiny_plugin(plugin_dir) / "plugin.toml"
    data = tomllib.loads(path.read_text())
    assert manifest_from_dict(data, path).onnx is True
    assert manifest_from_dict({**data, "onnx": False}, path).onnx is False
    with pytest.raises(ManifestError, match="onnx"):
        manifest_from_dict({**data, "onnx": "no"}, path)


# -- clarity bench --backend all -----------------------------------------------------------------------------


def test_cli_bench_backends_side_by_side(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    import engine.api
    from engine.backends import bench as backend_bench
    from engine.cli.main import main

    write_tiny_plugin(Path(os.environ["CLARITY_PLUGIN_PATH"]), "tiny-dn")
    monkeypatch.setattr(engine.api, "_default_registry", None)
    monkeypatch.setattr(backend_bench, "matmul_gflops", lambda: 100.0)
    assert main(["bench", "-f", "tiny-dn", "--size", "40x32", "--tile", "16", "--backend", "all", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["backends"]
    assert [r["backend"] for r in rows] == ["torch", "onnx"]
    torch_row, onnx_row = rows
    assert torch_row["export_seconds"] is None and onnx_row["export_seconds"] > 0  # fresh cache: exported
    # tiny-dn: conv 3->8, 8->8, 8->3 (3x3) on 40x32 pixels = 2*9*(24+64+24)*1280 FLOP
    assert torch_row["gflop"] == onnx_row["gflop"] == pytest.approx(2 * 9 * (24 + 64 + 24) * 1280 / 1e9)
    assert onnx_row["gflops"] == pytest.approx(onnx_row["gflop"] / onnx_row["whole_seconds"])
    assert onnx_row["of_limit"] == pytest.approx(onnx_row["gflops"] / 100.0)
    assert (torch_row["tiles"], onnx_row["tiles"]) == (6, 6)
    assert main(["bench", "-f", "tiny-dn", "--size", "40x32", "--backend", "all", "--no-whole"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["filter", "backend", "size", "tile"]
    assert table[2].split()[1] == "torch" and table[3].split()[1] == "onnx" and table[3].split()[4] == "0.00"  # cached
    assert "matmul limit: 100 GFLOP/s" in table[-1]
