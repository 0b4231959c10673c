"""Time one training step (forward, backward, Adam) of built-in networks in fp32 and CPU bf16 autocast.

Prints a table: seconds per step in fp32, bf16, bf16 + channels_last, and the speed-up of the last
over fp32. bf16 is fast only where the CPU has AMX or AVX-512 BF16 (``lscpu | grep -o 'amx_bf16\\|avx512_bf16'``);
elsewhere it emulates and is slower. ``--compile`` adds bf16 + channels_last under ``torch.compile``
(inductor; needs a C++ compiler; its first steps compile and are not timed). Random data and weights;
each variant one warm-up step (three with ``--compile``), then the mean of ``--iters``. Run it alone on
the machine (a training job beside it halves every number):

    PYTHONPATH=. python scripts/cpu_amp_speed.py                     # the four networks of docs/training.md
    PYTHONPATH=. python scripts/cpu_amp_speed.py --arch plugins.upscale_rednet.model:rednet30 --batch 16 --patch 48
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.training.registry import build_model
from engine.training.trainer import call_network
from plugins.nets.specs import spec_for

DEFAULTS = (
    ("plugins.denoise.model:denoise_gaussian", 16, 128),
    ("plugins.upscale_rednet.model:rednet10", 16, 48),
    ("plugins.nets.weather:weather_net", 9, 192),
    ("plugins.denoise_dncnn.model:dncnn_color", 16, 50),
)
VARIANTS = ("fp32", "bf16", "bf16 + channels_last")
COMPILED = "bf16 + channels_last + compile"


def step_seconds(arch: str, batch: int, patch: int, variant: str, iters: int) -> float:
    """Mean seconds of one Adam step of ``arch`` on random ``batch x patch²`` data in ``variant``."""
    torch.manual_seed(0)
    spec = spec_for(arch)
    if spec is None:
        raise SystemExit(f"{arch} has no network spec (plugins/nets/specs.py)")
    net = build_model(arch, {})
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    x = torch.rand(batch, spec.channels_in, patch, patch)
    sigma = torch.full((batch, 1, 1, 1), 25 / 255)
    if "channels_last" in variant:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    bf16 = variant != "fp32"
    model = torch.compile(net) if variant == COMPILED else net

    def one() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = call_network(model, spec, x, sigma, spec.scales[0] if spec.scale_arg else 1)
        loss = out.float().abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3 if variant == COMPILED else 1):
        one()
    t = time.perf_counter()
    for _ in range(iters):
        one()
    return (time.perf_counter() - t) / iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", help="one network factory (default: the four of docs/training.md)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time bf16 + channels_last under torch.compile")
    ap.add_argument("--skip-fp32", action="store_true", help="leave out the (slow) fp32 column")
    args = ap.parse_args()
    variants = tuple(v for v in VARIANTS if not (args.skip_fp32 and v == "fp32")) + ((COMPILED,) if args.compile else ())
    torch.set_num_threads(args.threads)
    jobs = ((args.arch, args.batch, args.patch),) if args.arch else DEFAULTS
    print(f"torch {torch.__version__}, {args.threads} threads, s per step (mean of {args.iters} after a warm-up)\n")
    print("| network, batch x patch | " + " | ".join(variants) + " | speed-up, last over first |")
    print("| --- |" + " --- |" * (len(variants) + 1))
    for arch, batch, patch in jobs:
        times = [step_seconds(arch, batch, patch, v, args.iters) for v in variants]
        cells = " | ".join(f"{t:.2f} s" for t in times)
        print(f"| {arch.split(':')[-1]}, {batch} x {patch}² | {cells} | {times[0] / times[-1]:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
