"""Device and precision resolution, tile-size choice, out-of-memory detection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.core.errors import DeviceError
from engine.core.types import DeviceKind, Precision
from engine.device import (
    CPU_TILE_MEMORY,
    DEFAULT_CPU_TILE,
    ExecutionDevice,
    auto_tile_size,
    autocast_dtype,
    balanced_tile,
    cpu_device,
    default_tiles_per_batch,
    is_out_of_memory,
    parse_device,
    resolve_device,
    resolve_precision,
)
from engine.tiling import plan_tiles
from plugins.api import Manifest, Task, TilingSpec
from plugins.nets.specs import WEATHER

FAKE_GPU = ExecutionDevice(torch.device("cpu"), "fake-gpu", True)


def manifest(fp16: bool = True, bf16: bool = False) -> Manifest:
    return Manifest(id="m", name="M", version="0", task=Task.DENOISE, menu="M", folder=Path("."), fp16=fp16, bf16=bf16)


def test_cpu_is_always_available() -> None:
    device = resolve_device(DeviceKind.CPU)
    assert device.torch_device.type == "cpu" and not device.is_gpu and device.label == "cpu"


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("engine.device._mps_available", lambda: False)
    assert resolve_device(DeviceKind.AUTO) == cpu_device()
    monkeypatch.setattr("engine.device._mps_available", lambda: True)
    assert resolve_device("auto").torch_device.type == "mps"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_explicit_cuda_without_cuda_says_what_to_do() -> None:
    with pytest.raises(DeviceError, match="--device cpu or auto"):
        resolve_device(DeviceKind.CUDA)


def test_device_text_is_parsed_in_one_place() -> None:
    assert parse_device("auto") == (DeviceKind.AUTO, None)
    assert parse_device(DeviceKind.CPU) == (DeviceKind.CPU, None)
    assert parse_device(" CUDA:1 ") == (DeviceKind.CUDA, 1)
    for bad in ("gpu", "cpu:0", "cuda:x", "mps:1", "cuda:"):
        with pytest.raises(DeviceError, match=r"unknown device .*use auto, cpu, cuda, cuda:N or mps"):
            parse_device(bad)


def test_cuda_index_beyond_the_gpus_names_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(DeviceError, match=r"cuda:5 does not exist: this machine has 2 CUDA GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:5")


def test_trainer_device_is_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.training.trainer import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("engine.device._mps_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        pick_device("tpu")


def test_explicit_mps_without_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.device._mps_available", lambda: False)
    with pytest.raises(DeviceError, match="MPS"):
        resolve_device(DeviceKind.MPS)


def test_precision_policy() -> None:
    cpu = cpu_device()
    assert resolve_precision(Precision.AUTO, manifest(), cpu) is Precision.FP32
    assert resolve_precision(Precision.FP32, manifest(), FAKE_GPU) is Precision.FP32
    assert resolve_precision(Precision.AUTO, manifest(fp16=True), FAKE_GPU) is Precision.FP16
    assert resolve_precision(Precision.AUTO, manifest(fp16=False, bf16=False), FAKE_GPU) is Precision.FP32
    assert resolve_precision(Precision.FP16, manifest(fp16=True), FAKE_GPU) is Precision.FP16
    with pytest.raises(DeviceError, match="only on a GPU.*--precision fp32"):
        resolve_precision(Precision.FP16, manifest(), cpu)
    with pytest.raises(DeviceError, match="does not declare fp16"):
        resolve_precision(Precision.FP16, manifest(fp16=False), FAKE_GPU)
    with pytest.raises(DeviceError, match="does not declare bf16"):
        resolve_precision("bf16", manifest(bf16=False), FAKE_GPU)


def test_cpu_bf16_only_on_explicit_request_and_native_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 on the CPU: never chosen by auto; allowed when asked for on a CPU with AMX / AVX-512 BF16."""
    cpu = cpu_device()
    monkeypatch.setattr("engine.device.cpu_has_native_bf16", lambda: True)
    assert resolve_precision(Precision.AUTO, manifest(bf16=True), cpu) is Precision.FP32
    assert resolve_precision(Precision.BF16, manifest(bf16=True), cpu) is Precision.BF16
    with pytest.raises(DeviceError, match="does not declare bf16"):
        resolve_precision(Precision.BF16, manifest(bf16=False), cpu)
    monkeypatch.setattr("engine.device.cpu_has_native_bf16", lambda: False)
    with pytest.raises(DeviceError, match="no native bf16.*slower than fp32; use --precision fp32 or auto"):
        resolve_precision(Precision.BF16, manifest(bf16=True), cpu)


def test_autocast_dtype() -> None:
    assert autocast_dtype(Precision.FP32) is None
    assert autocast_dtype(Precision.FP16) is torch.float16
    assert autocast_dtype(Precision.BF16) is torch.bfloat16


def test_tile_size_and_batch_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert auto_tile_size(cpu_device(), scale=1, precision=Precision.FP32, tiles_per_batch=1) == DEFAULT_CPU_TILE
    assert auto_tile_size(cpu_device(), scale=4, precision=Precision.FP32, tiles_per_batch=1) == DEFAULT_CPU_TILE // 4
    assert auto_tile_size(cpu_device(), scale=3, precision=Precision.FP32, tiles_per_batch=1) == 160
    assert default_tiles_per_batch(cpu_device()) == 1 and default_tiles_per_batch(FAKE_GPU) == 4
    cuda = ExecutionDevice(torch.device("cuda", 0), "cuda:0", True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * 2**30, 16 * 2**30))
    big = auto_tile_size(cuda, scale=1, precision=Precision.FP16, tiles_per_batch=1)
    small = auto_tile_size(cuda, scale=4, precision=Precision.FP32, tiles_per_batch=4)
    assert big == 2048 and small % 64 == 0 and 128 <= small < big
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * 2**20, 16 * 2**30))
    assert auto_tile_size(cuda, scale=1, precision=Precision.FP32, tiles_per_batch=4) == 128


def test_cpu_tile_from_declared_memory_fits_the_budget_and_cuts_overlap_work() -> None:
    tiling = WEATHER.tiling_spec()  # context 176, 416 bytes per pixel
    tile = auto_tile_size(cpu_device(), scale=1, precision=Precision.FP32, tiles_per_batch=1, tiling=tiling)
    box = tile + 2 * tiling.context
    assert tile % 16 == 0 and box * box * tiling.memory_per_pixel <= CPU_TILE_MEMORY
    assert (box + 16) ** 2 * tiling.memory_per_pixel > CPU_TILE_MEMORY  # the largest that fits
    # at 2048x2048 the old 512-pixel tiles did 2.95x the image's work; the memory-sized tile far less
    def work(edge: int) -> float:
        plan = plan_tiles(2048, 2048, tile=balanced_tile(edge, 2048, 2048), overlap=176, size_multiple=16)
        return sum(t.box.width * t.box.height for t in plan.tiles) / 2048**2

    assert work(DEFAULT_CPU_TILE) == pytest.approx(2.95, abs=0.01)
    assert work(tile) == pytest.approx(1.85, abs=0.01)
    # undeclared memory keeps the old output-sized rule; a huge per-pixel figure bottoms out at 64
    assert auto_tile_size(cpu_device(), scale=2, precision=Precision.FP32, tiles_per_batch=1, tiling=TilingSpec()) == 256
    heavy = TilingSpec(context=17, memory_per_pixel=10**9)
    assert auto_tile_size(cpu_device(), scale=4, precision=Precision.FP32, tiles_per_batch=1, tiling=heavy) == 64


@pytest.mark.parametrize(
    ("tile", "height", "width", "expected"),
    [(1200, 2048, 2048, 1024), (512, 2048, 2048, 512), (1248, 3000, 4000, 1008), (1024, 800, 600, 1024), (0, 50, 50, 0)],
)
def test_balanced_tile_evens_tiles_without_adding_any(tile: int, height: int, width: int, expected: int) -> None:
    got = balanced_tile(tile, height, width)
    assert got == expected
    if 0 < tile < max(height, width):
        assert -(-max(height, width) // got) == -(-max(height, width) // tile)  # same number of tiles per side


def test_out_of_memory_detection() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))
