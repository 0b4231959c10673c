"""CPU speed probe for the built-in networks: megapixels per second, side by side.

Usage (repo root)::

    .venv/bin/python scripts/arch_speed.py                 # all groups, default sizes
    .venv/bin/python scripts/arch_speed.py --group denoise --size 512 --repeats 3
    .venv/bin/python scripts/arch_speed.py --group sr --sr-input 128
    .venv/bin/python scripts/arch_speed.py --group weather --candidates

Measures fp32 inference (``torch.inference_mode``, eval mode, ``torch.set_num_threads``,
default 2) of randomly initialised networks: the best of ``--repeats`` timed runs after one
warm-up, the rounds interleaved across networks (fair ratios on a shared, loaded machine). Denoisers and weather nets are timed on a ``size x size`` RGB image; SR networks on
a ``sr-input``-pixel square input, reported per OUTPUT megapixel (the comparison the SR
speed targets use). RED-Net's time includes its MATLAB-style bicubic pre-upsampling.
``--candidates`` adds the alternative widths/depths that were considered. The engine's real
benchmark is ``clarity bench`` at 2048x2048; this probe only guides the design.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))  # repo root: plugins.*


@dataclass(frozen=True)
class Entry:
    """One network to time: ``build()`` (default: the factory ``arch`` names), called as its spec says.

    ``arch`` is the network's key in :data:`plugins.nets.specs.SPECS` (the spec gives the noise-level
    map, the scale argument, pre-upsampled input and the channel count); ``build`` overrides the
    factory for the candidate widths/depths of the same network.
    """

    group: str
    name: str
    arch: str
    build: Callable[[], nn.Module] | None = None
    scale: int = 1


def _entries(candidates: bool) -> list[Entry]:
    from plugins.denoise.model import denoise_net
    from plugins.nets.weather import weather_net
    from plugins.upscale.model import upscale_net

    denoise = "plugins.denoise.model:denoise_net"
    upscale = "plugins.upscale.model:upscale_net"
    weather = "plugins.nets.weather:weather_net"
    out = [
        Entry("denoise", "dncnn-color (20 layers)", "plugins.denoise_dncnn.model:dncnn_color"),
        Entry("denoise", "dncnn-gray (17 layers)", "plugins.denoise_dncnn.model:dncnn_gray"),
        Entry("denoise", "denoise (default)", denoise),
    ]
    if candidates:
        out += [
            Entry("denoise", "denoise w48,96,192", denoise, lambda: denoise_net("48,96,192")),
            Entry("denoise", "denoise w64,128,256 2+2 blocks", denoise, lambda: denoise_net("", 2, 2)),
            Entry("denoise", "denoise w32,64,128,256", denoise, lambda: denoise_net("32,64,128,256")),
        ]
    for s in (2, 3, 4):
        out.append(Entry("sr", f"rednet30 x{s}", "plugins.upscale_rednet.model:rednet30", scale=s))
        out.append(Entry("sr", f"upscale x{s} (default)", upscale, scale=s))
        if candidates:
            out.append(Entry("sr", f"upscale x{s} 12 blocks", upscale, lambda: upscale_net(blocks=12), scale=s))
            out.append(Entry("sr", f"upscale x{s} 20 blocks (deep)", "plugins.upscale.model:upscale_net_deep", scale=s))
    out.append(Entry("weather", "weather (default)", weather))
    if candidates:
        out += [
            Entry("weather", "weather dil 1,2,4", weather, lambda: weather_net(bottom_dilations="1,2,4")),
            Entry("weather", "weather w24,48,96,192", weather, lambda: weather_net(widths="24,48,96,192")),
        ]
    return out


def _build(entry: Entry) -> nn.Module:
    """``entry.build()``, or the factory its ``arch`` names."""
    from plugins.nets.loading import network_factory

    return (entry.build or network_factory(entry.arch))()


def _runner(entry: Entry, size: int) -> Callable[[], torch.Tensor]:
    """A closure that runs one forward of ``entry`` on a seeded ``size x size`` input."""
    from plugins.nets.specs import SPECS
    from plugins.spec import NetworkInput
    from plugins.upscale_rednet.model import bicubic_upsample

    spec = SPECS[entry.arch]
    torch.manual_seed(0)
    net = _build(entry).eval()
    x = torch.rand(1, spec.channels_in, size, size)
    sigma = torch.full((1, 1, 1, 1), 25 / 255)

    def run() -> torch.Tensor:
        inp = bicubic_upsample(x, entry.scale) if spec.input is NetworkInput.UPSAMPLED else x
        args = (inp, sigma) if spec.noise_map else (inp,)
        return net(*args, scale=entry.scale) if spec.scale_arg else net(*args)

    return run


def _best_times(runs: list[Callable[[], torch.Tensor]], repeats: int) -> list[float]:
    """Best wall time of each runner; rounds interleave the runners so that load from other
    processes on a shared machine hits every network alike (ratios stay meaningful)."""
    best = [float("inf")] * len(runs)
    with torch.inference_mode():
        for run in runs:
            run()  # warm-up
        for _ in range(repeats):
            for i, run in enumerate(runs):
                t0 = time.perf_counter()
                run()
                best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", choices=["all", "denoise", "sr", "weather"], default="all")
    parser.add_argument("--size", type=int, default=512, help="image side for denoise/weather nets (default 512)")
    parser.add_argument("--sr-input", type=int, default=128, help="input side for SR nets (default 128)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", action="store_true", help="also time the alternatives considered")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, fp32, best of {args.repeats}")
    print(f"{'group':8} {'network':34} {'params M':>8} {'input':>9} {'out MP/s':>9} {'ratio':>7}")
    entries = [e for e in _entries(args.candidates) if args.group in ("all", e.group)]
    sizes = [args.sr_input if e.group == "sr" else args.size for e in entries]
    times = _best_times([_runner(e, n) for e, n in zip(entries, sizes)], args.repeats)
    baseline: dict[tuple[str, int], float] = {}
    for entry, size, seconds in zip(entries, sizes, times):
        out_mp = (size * entry.scale) ** 2 / 1e6
        mps = out_mp / seconds
        ref = baseline.setdefault((entry.group, entry.scale), mps)
        params = sum(p.numel() for p in _build(entry).parameters()) / 1e6
        print(f"{entry.group:8} {entry.name:34} {params:8.2f} {size:>4}x{size:<4} {mps:9.3f} {mps / ref:6.1f}x", flush=True)
    print("ratio: MP/s relative to the first network of the same group and scale (dncnn-color, rednet30 x s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
