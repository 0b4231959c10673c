"""Compute device, precision, tile size and out-of-memory detection for a run.

Policy (documented once, here):

- ``DeviceKind.AUTO`` picks CUDA, then Apple MPS, then the CPU. An *explicit* ``cuda`` or
  ``mps`` that is not available raises :class:`DeviceError` saying what to use instead.
  :func:`resolve_device` is the one place that turns a request (a :class:`DeviceKind` or the
  text ``auto|cpu|cuda|cuda:N|mps``) into a device, for the run path and the trainer alike.
- Precision: fp16/bf16 run under ``torch.autocast`` only where the plugin's manifest declares
  support: fp16 on a GPU, bf16 on a GPU or, asked for explicitly, on a CPU with native bf16
  (AMX or AVX-512 BF16: 2.5-3.3x faster there, within 0.01 dB of fp32 in the project's
  evaluations; an emulating CPU would be slower, so it is refused). ``AUTO`` means fp16 (else
  bf16, else fp32) on a GPU and fp32 on the CPU (exact, every CPU). An *explicit* fp16/bf16 request that cannot be honoured raises
  :class:`DeviceError` rather than silently changing the numbers: the user asked for something
  specific, so the fix (``--precision fp32`` or ``auto``) is shown.
- Tile size: on CUDA it is derived from free memory (``torch.cuda.mem_get_info``). On the CPU
  it is the largest tile whose box (tile plus the context on every side) fits
  :data:`CPU_TILE_MEMORY` at the plugin's declared ``memory_per_pixel``: the overlap is work done
  twice, so small tiles of a network with a wide receptive field waste most of the time (the
  weather U-Net did 2.95x the image's work in 512-pixel tiles at 2048x2048). Plugins that do not
  declare their memory get :data:`DEFAULT_CPU_TILE`. :func:`balanced_tile` then evens the tiles
  out over the image.

torch is imported inside functions only, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.core.errors import DeviceError
from engine.core.types import DeviceKind, Precision

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from plugins.api import Manifest, TilingSpec

DEFAULT_CPU_TILE = 512
"""Output tile edge used on the CPU when the user does not choose one (input edge = this / scale)."""

MIN_AUTO_TILE = 128
MAX_AUTO_TILE = 2048
GPU_MEMORY_FRACTION = 0.5
"""Share of the currently free GPU memory an automatic tile size plans to use."""

CPU_TILE_MEMORY = 5 << 28
"""Activation memory one CPU forward may plan for (1.25 GiB), with a plugin's ``memory_per_pixel``.
Enough for RED-Net30 (~37 KB per input pixel at x4) to keep its 128-pixel tiles, and for the
weather U-Net to cover 2048x2048 in four tiles."""

BYTES_PER_OUTPUT_PIXEL_FP32 = 1536
"""Rough activation memory of a restoration network per output pixel in fp32 (64-channel
features, a handful alive at once). Only a starting guess: out-of-memory halves the tile."""


@dataclass(frozen=True)
class ExecutionDevice:
    """Where a run executes: the torch device, a label for reports, and whether it is a GPU."""

    torch_device: torch.device
    label: str
    is_gpu: bool


def cpu_device() -> ExecutionDevice:
    """The CPU as an :class:`ExecutionDevice`."""
    import torch

    return ExecutionDevice(torch.device("cpu"), "cpu", False)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def parse_device(request: DeviceKind | str) -> tuple[DeviceKind, int | None]:
    """``"cuda:1"`` -> ``(CUDA, 1)``, ``"auto"`` -> ``(AUTO, None)``; anything else raises :class:`DeviceError`."""
    text = (request.value if isinstance(request, DeviceKind) else str(request)).strip().lower()
    kind_text, colon, index_text = text.partition(":")
    try:
        kind = DeviceKind(kind_text)
    except ValueError:
        kind = None
    if kind is None or (colon and (kind is not DeviceKind.CUDA or not index_text.isdigit())):
        raise DeviceError(f"unknown device '{request}'; use auto, cpu, cuda, cuda:N or mps")
    return kind, int(index_text) if colon else None


def resolve_device(request: DeviceKind | str) -> ExecutionDevice:
    """Turn a request (``DeviceKind`` or ``auto|cpu|cuda|cuda:N|mps``) into a concrete device (see the module docstring)."""
    import torch

    kind, index = parse_device(request)
    if kind is DeviceKind.CPU:
        return cpu_device()
    if kind in (DeviceKind.CUDA, DeviceKind.AUTO) and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if index is None:
            index = torch.cuda.current_device()
        elif index >= count:
            raise DeviceError(f"cuda:{index} does not exist: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
        return ExecutionDevice(torch.device("cuda", index), f"cuda:{index} ({torch.cuda.get_device_name(index)})", True)
    if kind is DeviceKind.CUDA:
        raise DeviceError(
            "CUDA was requested but no CUDA GPU is usable by this PyTorch build "
            f"(torch {torch.__version__}, CUDA {torch.version.cuda or 'not compiled in'}); "
            "use --device cpu or auto, or install a CUDA build of PyTorch"
        )
    if kind in (DeviceKind.MPS, DeviceKind.AUTO) and _mps_available():
        return ExecutionDevice(torch.device("mps"), "mps", True)
    if kind is DeviceKind.MPS:
        raise DeviceError("Apple MPS was requested but is not available on this machine; use --device cpu or auto")
    return cpu_device()


def resolve_precision(requested: Precision, manifest: Manifest, device: ExecutionDevice) -> Precision:
    """The precision a run uses (see the module docstring); raises :class:`DeviceError` if impossible."""
    requested = Precision(requested)
    if requested is Precision.FP32:
        return Precision.FP32
    if requested is Precision.AUTO:
        if not device.is_gpu:
            return Precision.FP32
        if manifest.fp16:
            return Precision.FP16
        if manifest.bf16 and _bf16_supported(device):
            return Precision.BF16
        return Precision.FP32
    name = requested.value
    if not device.is_gpu and requested is Precision.FP16:
        raise DeviceError("fp16 runs only on a GPU and this run is on the CPU; use --precision fp32, bf16 or auto")
    allowed = manifest.fp16 if requested is Precision.FP16 else manifest.bf16
    if not allowed:
        raise DeviceError(
            f"plugin '{manifest.id}' does not declare {name} support in its manifest; use --precision fp32 or auto"
        )
    if requested is Precision.BF16 and not _bf16_supported(device):
        if not device.is_gpu:
            raise DeviceError(
                "this CPU has no native bf16 (AMX or AVX-512 BF16), so bf16 would be slower than fp32; use --precision fp32 or auto"
            )
        raise DeviceError(f"this GPU ({device.label}) cannot run bf16; use --precision fp16, fp32 or auto")
    return requested


def _bf16_supported(device: ExecutionDevice) -> bool:
    import torch

    if device.torch_device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.torch_device.type == "cpu":
        return cpu_has_native_bf16()
    return device.torch_device.type == "mps"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX tiles or AVX-512 BF16), as oneDNN uses them."""
    import torch

    probes = (getattr(torch.cpu, "_is_amx_tile_supported", None), getattr(torch.cpu, "_is_avx512_bf16_supported", None))
    return any(bool(probe()) for probe in probes if probe is not None)


def autocast_dtype(precision: Precision) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (``None`` for fp32: no autocast)."""
    import torch

    return {Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}.get(Precision(precision))


def auto_tile_size(
    device: ExecutionDevice,
    *,
    scale: int,
    precision: Precision,
    tiles_per_batch: int,
    tiling: TilingSpec | None = None,
) -> int:
    """A tile edge (input pixels) for ``device``; see the module docstring.

    On the CPU with a ``tiling`` that declares ``memory_per_pixel``: the largest multiple of 16
    whose box ``tile + 2 * context`` holds at most :data:`CPU_TILE_MEMORY` of activations, within
    [64, :data:`MAX_AUTO_TILE`]. Otherwise on the CPU the *output* tile is kept near
    :data:`DEFAULT_CPU_TILE` (a x4 network at high resolution, such as RED-Net, holds ~10
    full-resolution 64-channel maps).

    On CUDA the estimate assumes :data:`BYTES_PER_OUTPUT_PIXEL_FP32` (halved in fp16/bf16) and is
    a multiple of 64 within [:data:`MIN_AUTO_TILE`, :data:`MAX_AUTO_TILE`].
    """
    if device.torch_device.type != "cuda":
        if tiling is not None and tiling.memory_per_pixel > 0:
            box = math.isqrt(CPU_TILE_MEMORY // tiling.memory_per_pixel)
            return max(64, min(MAX_AUTO_TILE, (box - 2 * tiling.context) // 16 * 16))
        return max(64, DEFAULT_CPU_TILE // max(1, scale) // 16 * 16)
    import torch

    free, _total = torch.cuda.mem_get_info(device.torch_device)
    per_pixel = BYTES_PER_OUTPUT_PIXEL_FP32 * (0.5 if precision in (Precision.FP16, Precision.BF16) else 1.0)
    pixels = GPU_MEMORY_FRACTION * free / (per_pixel * scale * scale * max(1, tiles_per_batch))
    edge = int(math.sqrt(max(pixels, 1.0))) // 64 * 64
    return max(MIN_AUTO_TILE, min(MAX_AUTO_TILE, edge))


def balanced_tile(tile: int, height: int, width: int, multiple: int = 16) -> int:
    """The smallest tile edge, rounded up to ``multiple``, that needs no more tiles than ``tile``.

    Tiles of ``tile`` pixels over a 2048-pixel side leave a thin last column (1200 + 848) whose
    box costs as much as a full one; ``balanced_tile(1200, 2048, 2048)`` is 1024 (two even tiles,
    less overlap work). Never larger than ``tile``; ``tile`` itself when one tile covers the image.
    """
    longest = max(height, width)
    if tile <= 0 or tile >= longest:
        return tile
    count = -(-longest // tile)
    even = -(-longest // count)
    return min(tile, -(-even // multiple) * multiple)


def default_tiles_per_batch(device: ExecutionDevice) -> int:
    """Tiles per forward: several on a GPU (keeps it busy), one on the CPU (bounds memory)."""
    return 4 if device.is_gpu else 1


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocator failures (``OutOfMemoryError`` or an "out of memory" RuntimeError)."""
    import torch

    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "can't allocate memory" in text or "failed to allocate" in text
    return False


def release_cached_memory(device: ExecutionDevice) -> None:
    """Give cached allocator blocks back after an out-of-memory error (no-op on the CPU)."""
    import torch

    if device.torch_device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.torch_device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
