"""Speed and memory of a plugin on a synthetic image: whole-image vs tiled, in one process.

:func:`bench_plugin` is the measuring logic behind ``clarity bench`` (the CLI only parses and
prints). Timings are the median of ``repeat`` runs after one small warm-up run; the tiled run
is measured before the whole-image run so that its process-wide peak-RSS high-water mark is
not inflated by the (larger) whole-image run. On CUDA the peak is ``max_memory_allocated``
(reset before each measurement) instead.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.core.errors import ParameterError
from engine.core.types import RunOptions, RunResult

if TYPE_CHECKING:  # pragma: no cover
    from plugins.api import ParamValue, ParamValues, Restorer
    from plugins.registry import PluginRegistry


@dataclass(frozen=True)
class BenchResult:
    """One plugin's figures. Sizes are input pixels; throughput is *output* megapixels per second.

    ``whole_seconds``/``whole_peak_bytes`` are ``None`` when the whole-image run was skipped.
    ``memory_kind`` says what the peaks are: ``"peak RSS"`` (process high-water mark, CPU) or
    ``"peak CUDA"`` (allocated tensor memory).
    """

    plugin_id: str
    width: int
    height: int
    scale: int
    device: str
    precision: str
    repeat: int
    tile: int
    tiles: int
    tiled_seconds: float
    tiled_peak_bytes: int
    whole_seconds: float | None
    whole_peak_bytes: int | None
    memory_kind: str
    warnings: tuple[str, ...] = ()
    backend: str = "torch"

    @property
    def output_megapixels(self) -> float:
        """Output size in megapixels."""
        return self.width * self.height * self.scale * self.scale / 1e6

    @property
    def tiled_mp_per_s(self) -> float:
        """Output megapixels per second, tiled."""
        return self.output_megapixels / self.tiled_seconds

    @property
    def whole_mp_per_s(self) -> float | None:
        """Output megapixels per second, whole image (``None`` if not measured)."""
        return None if self.whole_seconds is None else self.output_megapixels / self.whole_seconds

    @property
    def overhead(self) -> float | None:
        """Tiling overhead: tiled time / whole time (``None`` if the whole run was skipped)."""
        return None if self.whole_seconds is None else self.tiled_seconds / self.whole_seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every field plus the derived figures."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        data.update(
            output_megapixels=self.output_megapixels,
            tiled_mp_per_s=self.tiled_mp_per_s,
            whole_mp_per_s=self.whole_mp_per_s,
            overhead=self.overhead,
        )
        return data


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` (e.g. ``2048x1536``) to ``(width, height)``."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ParameterError(f"size '{text}' is not WxH with two positive integers, e.g. 2048x2048")
    return int(parts[0]), int(parts[1])


def synthetic_image(width: int, height: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A seeded ``(height, width, channels)`` float32 test image: smooth waves plus noise, in [0, 1].

    Built in place, band by band, so a 50-megapixel image costs one float32 copy and no more.
    """
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, channels), np.float32)
    rng.standard_normal(out=image, dtype=np.float32)
    image *= 0.1
    xx = np.linspace(0.0, 6.0, width, dtype=np.float32)[None, :, None]
    phase = 2.0 * np.arange(channels, dtype=np.float32)[None, None, :] / max(1, channels)
    for y0 in range(0, height, 256):
        y1 = min(height, y0 + 256)
        yy = np.linspace(0.0, 4.0, height, dtype=np.float32)[y0:y1, None, None]
        image[y0:y1] += 0.5 + 0.3 * np.sin(xx + yy + phase)
    return np.clip(image, 0.0, 1.0, out=image)


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass(frozen=True)
class BenchSpec:
    """What to measure: a seeded ``width`` x ``height`` synthetic image and how to run on it.

    ``options.tile`` ``None`` = automatic tiles; ``params`` are strings as on the command line
    (unset parameters take their defaults); ``repeat`` runs per measurement (at least 1);
    ``whole=False`` skips the whole-image run.
    """

    width: int
    height: int
    options: RunOptions = field(default_factory=RunOptions)
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    repeat: int = 1
    seed: int = 0
    whole: bool = True

    def inputs(self, restorer: Restorer) -> tuple[ParamValues, np.ndarray, np.ndarray]:
        """``(parameter values, image, 64x64 warm-up image)`` for ``restorer``; checks ``repeat``."""
        from plugins.params import resolve_params

        if self.repeat < 1:
            raise ParameterError(f"--repeat {self.repeat} must be at least 1")
        values = resolve_params(restorer.manifest, self.params)
        channels = 3 if 3 in restorer.manifest.channels else restorer.manifest.channels[0]
        image = synthetic_image(self.width, self.height, channels, self.seed)
        warm = synthetic_image(min(self.width, 64), min(self.height, 64), channels, self.seed)
        return values, image, warm


def timed_run(restorer: Restorer, image: np.ndarray, params: Any, options: RunOptions) -> tuple[float, RunResult]:
    """Seconds of one :func:`engine.runner.run_restorer` call (CUDA synchronised) and its result.

    The result keeps its figures but not its pixels (an empty image), so a caller that loops
    holds no more than one output at a time.
    """
    import torch

    from engine.runner import run_restorer

    cuda = torch.cuda.is_available()
    start = time.perf_counter()
    run = run_restorer(restorer, image, params, mask=None, options=options, progress=None, cancel=None)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, replace(run, image=np.empty((0, 0, 0), np.float32))


def _measure(restorer: Restorer, image: np.ndarray, params: Any, options: RunOptions, repeat: int) -> tuple[float, int, RunResult]:
    """Median seconds of ``repeat`` (>= 1) runs, the peak memory, and the last result."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times: list[float] = []
    for _ in range(repeat):
        seconds, result = timed_run(restorer, image, params, options)
        times.append(seconds)
    peak = int(torch.cuda.max_memory_allocated()) if result.device.startswith("cuda") else peak_rss_bytes()
    return statistics.median(times), peak, result


def bench_restorer(restorer: Restorer, spec: BenchSpec) -> BenchResult:
    """Measure an already loaded ``restorer`` (see :func:`bench_plugin`)."""
    from engine.runner import run_restorer

    values, image, warm = spec.inputs(restorer)
    options, repeat = spec.options, spec.repeat
    run_restorer(restorer, warm, values, mask=None, options=options, progress=None, cancel=None)
    _decide_backend(restorer, image, values, options)

    tiled_s, tiled_peak, tiled = _measure(restorer, image, values, options, repeat)
    whole_s: float | None = None
    whole_peak: int | None = None
    warnings = list(tiled.warnings)
    if spec.whole:
        whole_s, whole_peak, whole_result = _measure(restorer, image, values, replace(options, tile=0), repeat)
        warnings += [w for w in whole_result.warnings if w not in warnings]
    return BenchResult(
        plugin_id=restorer.manifest.id,
        width=spec.width,
        height=spec.height,
        scale=tiled.scale,
        device=tiled.device,
        precision=tiled.precision.value,
        repeat=repeat,
        tile=tiled.tile,
        tiles=tiled.tiles,
        tiled_seconds=tiled_s,
        tiled_peak_bytes=tiled_peak,
        whole_seconds=whole_s,
        whole_peak_bytes=whole_peak,
        memory_kind="peak CUDA" if tiled.device.startswith("cuda") else "peak RSS",
        warnings=tuple(warnings),
        backend=tiled.backend,
    )


def _decide_backend(restorer: Restorer, image: np.ndarray, values: Any, options: RunOptions) -> None:
    """Let ``--backend auto`` measure (first use) before the timed runs, not inside them."""
    from engine.backends import prepare
    from engine.device import resolve_device

    params = restorer.analyse(image, values)
    scale = int(restorer.scale(params))
    pixels = image.shape[0] * image.shape[1] * scale * scale
    prepare(restorer, options.backend, resolve_device(options.device), params, scale=scale, output_pixels=pixels)


def bench_plugin(plugin_id: str, spec: BenchSpec, registry: PluginRegistry | None = None) -> BenchResult:
    """Load ``plugin_id`` and time it on ``spec``'s seeded synthetic image.

    Runs a 64x64 warm-up, then ``spec.repeat`` tiled runs (``spec.options.tile``; ``None`` =
    automatic) and, unless ``spec.whole`` is false, as many whole-image runs (tile 0).
    """
    from engine.api import get_registry

    restorer = (registry or get_registry()).load(plugin_id)
    return bench_restorer(restorer, spec)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table(results: Sequence[BenchResult]) -> str:
    """A plain-text table of results, one row per plugin, with a header line."""
    header = ("filter", "size", "out MP", "device", "prec", "backend", "tile", "tiles", "whole s", "whole MP/s",
              "tiled s", "tiled MP/s", "overhead", "whole MiB", "tiled MiB")  # fmt: skip
    rows = [header]
    for r in results:
        rows.append((
            r.plugin_id, f"{r.width}x{r.height}", f"{r.output_megapixels:.2f}", r.device, r.precision, r.backend,
            str(r.tile), str(r.tiles), _num(r.whole_seconds, ".3f"), _num(r.whole_mp_per_s, ".3f"),
            f"{r.tiled_seconds:.3f}", f"{r.tiled_mp_per_s:.3f}", _num(r.overhead, ".2f") + ("x" if r.overhead else ""),
            _mb(r.whole_peak_bytes), _mb(r.tiled_peak_bytes),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 6 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    kinds = sorted({r.memory_kind for r in results})
    notes = [(f"memory: {', '.join(kinds)} (MiB); throughput in output megapixels per second; "
              "overhead = tiled time / whole time")]  # fmt: skip
    if len(results) > 1 and any("RSS" in k for k in kinds):
        notes.append("peak RSS is the process's high-water mark: a row also counts the rows above it; "
                     "bench one filter per command for its own memory figure")
    for r in results:
        notes += [f"{r.plugin_id}: {w}" for w in r.warnings]
    return "\n".join(lines + notes) + "\n"
