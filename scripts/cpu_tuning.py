"""Measure what speeds up the PyTorch CPU path of a built-in network (random weights), interleaved.

Variants, each run on the same seeded input in every round (best time of ``--rounds`` counts):

- ``torch``: what the engine does (eval, ``inference_mode``, NCHW contiguous);
- ``channels_last``: model and input in ``torch.channels_last``;
- ``jit-freeze``: ``torch.jit.trace`` + ``torch.jit.freeze`` + ``optimize_for_inference``
  (oneDNN conv/ReLU fusion);
- ``threads-1``: the engine path with ``torch.set_num_threads(1)``;
- ``bf16``: ``channels_last`` under ``torch.autocast('cpu', bfloat16)`` (what ``--precision bf16`` runs),
  only on a CPU with native bf16 (AMX / AVX-512 BF16);
- ``compile``: ``torch.compile`` (inductor; its compile time is printed apart), with ``--compile``;
- ``onnx``: ONNX Runtime on the same network (engine.backends), for reference.

    python scripts/cpu_tuning.py --net denoise --size 512 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _network(name: str) -> tuple[torch.nn.Module, Callable[[torch.Tensor], tuple[torch.Tensor, ...]]]:
    torch.manual_seed(0)
    if name == "denoise":
        from plugins.denoise.model import denoise_gaussian

        return denoise_gaussian().eval(), lambda x: (x, torch.full((x.shape[0], 1, 1, 1), 25 / 255))
    if name == "weather":
        from plugins.nets.weather import weather_net

        return weather_net().eval(), lambda x: (x,)
    if name == "upscale":
        from plugins.upscale.model import upscale_net

        net = upscale_net().eval()

        class X4(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.net(x, scale=4)

        return X4().eval(), lambda x: (x,)
    if name == "dncnn":
        from plugins.denoise_dncnn.model import dncnn_color

        return dncnn_color().eval(), lambda x: (x,)
    raise SystemExit(f"unknown --net {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", default="denoise", choices=("denoise", "weather", "upscale", "dncnn"))
    parser.add_argument("--size", type=int, default=512, help="input edge in pixels")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    net, inputs = _network(args.net)
    x = torch.rand((1, 3, args.size, args.size), generator=torch.Generator().manual_seed(0))
    feed = inputs(x)
    variants: dict[str, Callable[[], torch.Tensor]] = {}
    variants["torch"] = lambda: net(*feed)

    cl_net = _network(args.net)[0].to(memory_format=torch.channels_last)
    cl_feed = tuple(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 and t.shape[-1] > 1 else t for t in feed)
    variants["channels_last"] = lambda: cl_net(*cl_feed)

    with torch.no_grad():
        start = time.perf_counter()
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, feed)))
        print(f"jit-freeze: trace+freeze {time.perf_counter() - start:.1f} s", file=sys.stderr)
    variants["jit-freeze"] = lambda: frozen(*feed)

    def one_thread() -> torch.Tensor:
        torch.set_num_threads(1)
        try:
            return net(*feed)
        finally:
            torch.set_num_threads(threads)

    variants["threads-1"] = one_thread

    from engine.device import cpu_has_native_bf16

    if cpu_has_native_bf16():

        def bf16() -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return cl_net(*cl_feed).float()

        variants["bf16"] = bf16
    if args.compile:
        compiled = torch.compile(net)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(*feed)
        print(f"compile: first call {time.perf_counter() - start:.1f} s", file=sys.stderr)
        variants["compile"] = lambda: compiled(*feed)

    from engine.backends.onnx_cache import export_call, new_session, split_call

    signature, tensors = split_call(feed, {})
    session = new_session(export_call(net, signature, tensors, 16), threads)
    onnx_feed = {f"in{i}": t.numpy() for i, t in enumerate(tensors)}
    variants["onnx"] = lambda: torch.from_numpy(session.run(None, onnx_feed)[0])

    with torch.inference_mode():
        reference = net(*feed)
        for name, fn in variants.items():
            diff = float((fn() - reference).abs().max())
            print(f"{name}: max abs diff vs torch {diff:.1e}", file=sys.stderr)
        best = {name: float("inf") for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
    print(f"{args.net} {args.size}x{args.size}, {threads} threads, best of {args.rounds} interleaved rounds")
    for name, seconds in best.items():
        print(f"{name:14s} {seconds:8.3f} s  {best['torch'] / seconds:5.2f}x")


if __name__ == "__main__":
    main()
