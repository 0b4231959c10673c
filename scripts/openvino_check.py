"""Time OpenVINO's CPU runtime against ONNX Runtime on the engine's own cached ONNX graphs (issue 18).

OpenVINO is not a dependency of Clarity Studio; this script only answers "would it be worth
adopting?". It reads the newest graph the engine exported for each plugin id given
(``<user cache>/clarity-studio/onnx/<id>/*.onnx``: run ``clarity bench --backend onnx`` on the
plugin first) and runs it in both runtimes on one seeded input, interleaved, best of
``--rounds`` after one warm-up call each; same thread count for both. A rank-4 input with one
channel and 1x1 spatial size is the noise-level map (sigma 25/255); every other input is the
image.

    pip install openvino            # in any environment that has onnxruntime and numpy
    python scripts/openvino_check.py denoise-speedtest derain-speedtest --size 1024 --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def newest_graph(plugin_id: str) -> Path:
    """The most recently written ``.onnx`` the engine cached for ``plugin_id``."""
    from engine.backends.onnx_cache import cache_folder

    graphs = sorted(cache_folder(plugin_id).glob("*.onnx"), key=lambda p: p.stat().st_mtime)
    if not graphs:
        raise SystemExit(f"no cached ONNX graph for {plugin_id}: run `clarity bench --filter {plugin_id} --backend onnx` first")
    return graphs[-1]


def inputs_for(session: object, size: int) -> dict[str, np.ndarray]:
    """Seeded inputs by name: the image at ``size`` x ``size``, a noise map of 25/255."""
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for spec in session.get_inputs():  # type: ignore[attr-defined]
        shape = spec.shape
        if len(shape) == 4 and shape[1] == 1 and shape[2] == 1 and shape[3] == 1:
            feeds[spec.name] = np.full((1, 1, 1, 1), 25 / 255, dtype=np.float32)
        else:
            channels = shape[1] if isinstance(shape[1], int) else 3
            feeds[spec.name] = rng.random((1, channels, size, size), dtype=np.float32)
    return feeds


def seconds(call: Callable[[], object]) -> float:
    """Wall time of one ``call()``."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plugins", nargs="+", help="plugin ids whose cached graphs to time")
    parser.add_argument("--size", type=int, default=1024, help="input edge in pixels (the CPU tile)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        import openvino as ov
    except ImportError:
        raise SystemExit("OpenVINO is not installed here: `pip install openvino` (it is not a Clarity Studio dependency)") from None
    import onnxruntime as ort

    core = ov.Core()
    print(f"onnxruntime {ort.__version__}, openvino {ov.__version__}, {args.threads} threads, {args.size}x{args.size}, best of {args.rounds}")
    print(f"{'plugin':<26} {'ONNX Runtime s':>14} {'OpenVINO s':>10} {'OV vs ORT':>9} {'max abs diff':>12}")
    for plugin_id in args.plugins:
        graph = newest_graph(plugin_id)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        feeds = inputs_for(session, args.size)
        compiled = core.compile_model(str(graph), "CPU", {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        ordered = [feeds[spec.name] for spec in session.get_inputs()]
        ort_out = session.run(None, feeds)[0]
        ov_out = next(iter(request.infer(ordered).values()))
        ort_best = ov_best = float("inf")
        for _ in range(args.rounds):
            ort_best = min(ort_best, seconds(partial(session.run, None, feeds)))
            ov_best = min(ov_best, seconds(partial(request.infer, ordered)))
        diff = float(np.abs(np.asarray(ov_out) - ort_out).max())
        print(f"{plugin_id:<26} {ort_best:>14.3f} {ov_best:>10.3f} {ort_best / ov_best:>8.2f}x {diff:>12.1e}")


if __name__ == "__main__":
    main()
