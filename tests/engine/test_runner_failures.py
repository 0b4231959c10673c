"""run_restorer under stress: progress/cancel, out-of-memory retries and CPU fallback, broken plugins, memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

import engine.runner as runner
from engine.cancel import CancelToken
from engine.core.errors import CancelledError, DeviceError, PluginError
from engine.core.types import Progress, RunOptions
from engine.device import ExecutionDevice
from engine.runner import run_restorer
from plugins.api import Manifest, ParamValues, Restorer, Task, TilingPolicy, TilingSpec


def manifest(folder: Path, pid: str = "fake", policy: str = "tiled", context: int = 1) -> Manifest:
    return Manifest(id=pid, name=pid, version="0", task=Task.DENOISE, menu=pid, folder=folder,
                    tiling=TilingSpec(TilingPolicy(policy), context, 1, 0))  # fmt: skip


class Blur(Restorer):
    """A fixed 3x3 box blur (context 1), optionally failing on big tiles or on the fake GPU (:func:`fake_gpu`)."""

    def __init__(self, m: Manifest, oom_above: int | None = None, oom_on_gpu: bool = False) -> None:
        conv = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        with torch.no_grad():
            conv.weight.fill_(1 / 9)
        super().__init__(m, conv)
        self.oom_above = oom_above
        self.oom_on_gpu = oom_on_gpu
        self.on_gpu = False
        self.shapes: list[tuple[int, ...]] = []
        self.channels_last: list[bool] = []

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        self.channels_last.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        if self.oom_above is not None and x.shape[-1] > self.oom_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.oom_on_gpu and self.on_gpu:
            raise RuntimeError("CUDA error: out of memory")
        return self.network(x)


def fake_gpu(monkeypatch: pytest.MonkeyPatch, blur: Blur) -> None:
    """Runs on "cuda" resolve to a GPU made of the CPU; ``blur.on_gpu`` tells each forward where it runs."""
    monkeypatch.setattr(runner, "resolve_device", lambda kind: ExecutionDevice(torch.device("cpu"), "fake-gpu", True))
    forward = runner._forward

    def tracking(restorer: Restorer, *args: object) -> np.ndarray:
        blur.on_gpu = any(isinstance(a, ExecutionDevice) and a.is_gpu for a in args)
        return forward(restorer, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_forward", tracking)


def go(restorer: Restorer, image: np.ndarray, **kw: object) -> object:
    progress = kw.pop("progress", None)
    cancel = kw.pop("cancel", None)
    device = kw.pop("device", "cpu")
    return run_restorer(restorer, image, ParamValues({}), mask=None, options=RunOptions(device=device, **kw),
                        progress=progress, cancel=cancel)  # fmt: skip


def test_progress_after_every_tile(tmp_path: Path, small_rgb: np.ndarray) -> None:
    seen: list[Progress] = []
    result = go(Blur(manifest(tmp_path)), small_rgb, tile=16, progress=seen.append)
    assert [p.done for p in seen] == list(range(1, 3 * 4 + 1)) and result.tiles == 12
    assert all(p.total == 12 for p in seen) and seen[-1].fraction == 1.0


def test_pytorch_runs_channels_last_on_the_cpu(tmp_path: Path, small_rgb: np.ndarray) -> None:
    """The PyTorch backend feeds channels_last tiles and holds the network in channels_last (docs/performance.md)."""
    blur = Blur(manifest(tmp_path))
    go(blur, small_rgb, tile=16, backend="torch")
    assert len(blur.channels_last) == 12 and all(blur.channels_last)
    assert blur.network.weight.stride() == (9, 1, 3, 1)  # (3, 1, 3, 3) in channels_last (NCHW: (9, 9, 3, 1))


def test_batches_report_progress_per_forward(tmp_path: Path, small_rgb: np.ndarray) -> None:
    seen: list[Progress] = []
    blur = Blur(manifest(tmp_path))
    go(blur, small_rgb, tile=16, tiles_per_batch=5, progress=seen.append)
    assert [p.done for p in seen] == [5, 10, 12] and [s[0] for s in blur.shapes] == [5, 5, 2]


def test_cancel_after_two_tiles(tmp_path: Path, small_rgb: np.ndarray) -> None:
    token = CancelToken()
    seen: list[int] = []
    blur = Blur(manifest(tmp_path))

    def progress(p: Progress) -> None:
        seen.append(p.done)
        if p.done == 2:
            token.cancel()

    with pytest.raises(CancelledError):
        go(blur, small_rgb, tile=16, progress=progress, cancel=token)
    assert seen == [1, 2] and len(blur.shapes) == 2


def test_oom_halves_the_tile_until_it_fits(tmp_path: Path, small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "OOM_TILE_FLOOR", 8)
    reference = go(Blur(manifest(tmp_path)), small_rgb, tile=12).image
    blur = Blur(manifest(tmp_path), oom_above=20)  # box = tile + 2 * context
    result = go(blur, small_rgb, tile=48)
    assert result.tile == 12
    assert result.warnings == (
        "out of memory on cpu; retried with tile 24",
        "out of memory on cpu; retried with tile 12",
    )
    assert [s[-1] for s in blur.shapes[:2]] == [50, 26]  # the two boxes that did not fit
    assert np.abs(result.image - reference).max() < 1e-6


def test_oom_below_the_floor_on_cpu_is_a_device_error(tmp_path: Path, small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "OOM_TILE_FLOOR", 8)
    with pytest.raises(DeviceError, match="out of memory on the CPU"):
        go(Blur(manifest(tmp_path), oom_above=4), small_rgb, tile=16)


def test_oom_on_gpu_falls_back_to_cpu(tmp_path: Path, small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake GPU that is always out of memory: the run ends on the CPU."""
    monkeypatch.setattr(runner, "OOM_TILE_FLOOR", 8)
    blur = Blur(manifest(tmp_path), oom_on_gpu=True)
    fake_gpu(monkeypatch, blur)
    result = go(blur, small_rgb, tile=16, device="cuda", precision="fp32")
    assert result.device == "cpu" and result.precision.value == "fp32" and result.tile == 16  # CPU tile, not the halved one
    assert any("fell back to the CPU" in w for w in result.warnings)
    assert any("retried with tile 8" in w for w in result.warnings)
    assert blur.shapes[0][0] == 4  # several tiles per forward on the "GPU"
    assert np.abs(result.image - go(Blur(manifest(tmp_path)), small_rgb, tile=16).image).max() < 1e-6


def test_whole_policy_falls_back_to_cpu_without_tiling(tmp_path: Path, small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    blur = Blur(manifest(tmp_path, policy="whole"), oom_on_gpu=True)
    fake_gpu(monkeypatch, blur)
    result = go(blur, small_rgb, device="cuda", precision="fp32")
    assert result.tiles == 1 and result.device == "cpu"
    assert [s[-2:] for s in blur.shapes] == [(37, 53), (37, 53)]


class Broken(Restorer):
    def __init__(self, m: Manifest, mode: str) -> None:
        super().__init__(m, torch.nn.Identity())
        self.mode = mode

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        if self.mode == "shape":
            return x[:, :, :-1]
        if self.mode == "nan":
            y = x.clone()
            y[0, 0, 0, 0] = float("nan")
            return y
        if self.mode == "inf":
            return x / 0.0
        if self.mode == "type":
            return x.numpy()  # type: ignore[return-value]
        raise ZeroDivisionError("division by zero inside the model")


@pytest.mark.parametrize(("mode", "message"), [("shape", "expected"), ("nan", "NaN"), ("inf", "NaN or infinite"),
                                               ("type", "ndarray"), ("raise", "ZeroDivisionError")])  # fmt: skip
def test_broken_plugin_output_is_a_plugin_error(tmp_path: Path, small_rgb: np.ndarray, mode: str, message: str) -> None:
    with pytest.raises(PluginError, match=message) as info:
        go(Broken(manifest(tmp_path, pid="broken"), mode), small_rgb, tile=16)
    assert info.value.plugin_id == "broken" and "plugin 'broken'" in str(info.value)


def test_numpy_memory_stays_bounded(tmp_path: Path) -> None:
    """Tiles are written into one preallocated output: numpy peak is about input + output, not a tile stack."""
    image = np.random.default_rng(0).random((512, 512, 3), dtype=np.float32)
    blur = Blur(manifest(tmp_path))
    tracemalloc.start()
    try:
        result = go(blur, image, tile=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.tiles == 64
    assert peak < 1.3 * image.nbytes, f"peak {peak / 1e6:.1f} MB for a {image.nbytes / 1e6:.1f} MB image"


def test_half_precision_runs_under_autocast_on_the_gpu_path(tmp_path: Path, small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake GPU (CPU autocast) proves the precision plumbing: fp16 inside forward, fp32 result, close to fp32."""
    monkeypatch.setattr(runner, "resolve_device", lambda kind: ExecutionDevice(torch.device("cpu"), "fake-gpu", True))
    seen: list[torch.dtype] = []

    class Probe(Blur):
        def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
            y = super().forward(x, params)
            seen.append(y.dtype)
            return y

    m = Manifest(**{**manifest(tmp_path).__dict__, "fp16": True})
    half = go(Probe(m), small_rgb, tile=16, device="cuda")
    assert half.precision.value == "fp16" and set(seen) == {torch.float16}
    assert half.image.dtype == np.float32
    full = go(Blur(m), small_rgb, tile=16, device="cuda", precision="fp32")
    assert 0 < np.abs(half.image - full.image).max() < 5e-3
