"""``clarity bench --backend all``: PyTorch and ONNX Runtime side by side, interleaved, in one run.

Per plugin: the ONNX export (or cache read) is timed apart, on a warm-up call; then for each
of ``repeat`` rounds the tiled run of every backend, then the whole-image run of every
backend (interleaved, so a background load hits both alike); the best time counts. The work
is counted with ``torch.utils.flop_counter`` on a small probe and scaled by the pixel count
(convolution FLOPs are linear in pixels), and the achieved GFLOP/s is set next to the rate of
a 2048x2048 fp32 matrix product on the same threads (:func:`matmul_gflops`), the machine's
practical limit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from engine.core.types import Backend, DeviceKind

if TYPE_CHECKING:  # pragma: no cover
    from engine.bench import BenchSpec
    from plugins.api import ParamValues, Restorer

BACKENDS = (Backend.TORCH, Backend.ONNX)


@dataclass(frozen=True)
class BackendBench:
    """One plugin on one backend. Seconds are the best of ``repeat``; ``whole_*`` is ``None`` if skipped.

    ``export_seconds``: time to export (0 when the graph came from the cache; ``None`` for
    torch); ``gflop``: work of one whole-image run; ``matmul_gflops``: the machine's rate.
    """

    plugin_id: str
    backend: str
    width: int
    height: int
    scale: int
    tile: int
    tiles: int
    repeat: int
    export_seconds: float | None
    tiled_seconds: float
    whole_seconds: float | None
    gflop: float
    matmul_gflops: float
    threads: int
    warnings: tuple[str, ...] = ()

    @property
    def best_seconds(self) -> float:
        """The whole-image time when measured, else the tiled one."""
        return self.whole_seconds if self.whole_seconds is not None else self.tiled_seconds

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s (whole-image work / the whole-image time, else the tiled time)."""
        return self.gflop / self.best_seconds

    @property
    def of_limit(self) -> float:
        """Achieved GFLOP/s as a fraction of :attr:`matmul_gflops`."""
        return self.gflops / self.matmul_gflops

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the derived figures."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        data.update(gflops=self.gflops, of_limit=self.of_limit)
        return data


def matmul_gflops(size: int = 2048, repeat: int = 3) -> float:
    """GFLOP/s of a ``size`` x ``size`` fp32 matrix product on torch's threads (best of ``repeat``)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand((size, size), generator=gen), torch.rand((size, size), generator=gen)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def count_gflop(restorer: Restorer, params: ParamValues, width: int, height: int, channels: int) -> float:
    """GFLOP of one forward on a ``width`` x ``height`` input, counted on a probe and scaled by pixels."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    m = max(1, restorer.manifest.tiling.size_multiple)
    edge = max(m, 128 // m * m)
    x = torch.rand((1, channels, edge, edge), generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        restorer.forward(x, params)
    return counter.get_total_flops() / 1e9 * (width * height) / (edge * edge)


def bench_backends(
    restorer: Restorer, spec: BenchSpec, backends: Sequence[Backend] = BACKENDS, matmul: float | None = None
) -> list[BackendBench]:
    """Measure ``restorer`` on each backend, interleaved, on the CPU (``spec.options.device`` is ignored).

    See the module docstring; ``matmul`` is the machine's rate when already measured (else measured here).
    """
    import torch

    from engine.backends import prepare
    from engine.bench import timed_run
    from engine.device import cpu_device
    from engine.runner import run_restorer

    values, image, warm = spec.inputs(restorer)
    options = replace(spec.options, device=DeviceKind.CPU)
    width, height, channels = spec.width, spec.height, image.shape[2]
    values = restorer.analyse(image, values)
    scale = int(restorer.scale(values))
    exports: dict[Backend, float | None] = {}
    for backend in backends:
        prepared = prepare(restorer, backend, cpu_device(), values, scale=scale, output_pixels=0)
        run_restorer(prepared.restorer, warm, values, mask=None, options=replace(options, backend=Backend.TORCH),
                     progress=None, cancel=None)  # fmt: skip
        exports[backend] = None if prepared.context is None else prepared.context.export_seconds
    runs = [("tiled", options)] + ([("whole", replace(options, tile=0))] if spec.whole else [])
    best: dict[tuple[str, Backend], float] = {}
    last: dict[tuple[str, Backend], Any] = {}
    for _ in range(spec.repeat):
        for kind, opts in runs:
            for backend in backends:
                seconds, last[(kind, backend)] = timed_run(restorer, image, values, replace(opts, backend=backend))
                best[(kind, backend)] = min(best.get((kind, backend), float("inf")), seconds)
    rate = matmul if matmul is not None else matmul_gflops()
    gflop = count_gflop(restorer, values, width, height, channels)
    out = []
    for backend in backends:
        tiled = last[("tiled", backend)]
        warnings = list(tiled.warnings)
        if tiled.backend != backend.value:
            warnings.append(f"ran on {tiled.backend}")
        out.append(BackendBench(
            plugin_id=restorer.manifest.id, backend=backend.value, width=width, height=height, scale=scale,
            tile=tiled.tile, tiles=tiled.tiles, repeat=spec.repeat, export_seconds=exports[backend],
            tiled_seconds=best[("tiled", backend)], whole_seconds=best.get(("whole", backend)),
            gflop=gflop, matmul_gflops=rate, threads=torch.get_num_threads(), warnings=tuple(warnings),
        ))  # fmt: skip
    return out


def format_backend_table(results: Sequence[BackendBench]) -> str:
    """A plain-text table, one row per plugin and backend, with the speed-up over torch."""
    header = ("filter", "backend", "size", "tile", "export s", "tiled s", "whole s", "vs torch", "GFLOP",
              "GFLOP/s", "of matmul")  # fmt: skip
    torch_best = {r.plugin_id: r.best_seconds for r in results if r.backend == "torch"}
    rows = [header]
    for r in results:
        ref = torch_best.get(r.plugin_id)
        rows.append((
            r.plugin_id, r.backend, f"{r.width}x{r.height}", str(r.tile),
            "-" if r.export_seconds is None else f"{r.export_seconds:.2f}",
            f"{r.tiled_seconds:.3f}", "-" if r.whole_seconds is None else f"{r.whole_seconds:.3f}",
            "-" if ref is None else f"{ref / r.best_seconds:.2f}x", f"{r.gflop:.1f}", f"{r.gflops:.0f}",
            f"{100 * r.of_limit:.0f} %",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    rate = results[0].matmul_gflops if results else 0.0
    threads = results[0].threads if results else 0
    lines.append(f"best of {results[0].repeat if results else 0} interleaved runs on the CPU, {threads} threads; "
                 f"vs torch and GFLOP/s use the whole-image time (tiled if skipped); export s = ONNX export "
                 f"(0.00: read from the cache); matmul limit: {rate:.0f} GFLOP/s (2048x2048 fp32)")  # fmt: skip
    lines += [f"{r.plugin_id} ({r.backend}): {w}" for r in results for w in r.warnings]
    return "\n".join(lines) + "\n"
