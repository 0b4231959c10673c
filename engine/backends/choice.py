"""``--backend auto`` on the CPU: measure PyTorch against ONNX Runtime once per plugin, record it.

The decision for a plugin is stored in ``cache_dir()/onnx/choices.json`` under its id with a
key over the weights of its network (:func:`module_digest`), the torch and onnxruntime
versions and the thread count; a run whose key differs (new weights, a runtime upgrade, other
threads) measures again. The measurement: one call of ``restorer.forward`` on a seeded probe
tile per backend as a warm-up (the ONNX one exports, or reads the cache), then :data:`ROUNDS`
interleaved rounds; the best time of each backend counts, and ONNX
Runtime is chosen only when it is at least :data:`MARGIN` faster, so ``auto`` is never slower
than PyTorch by more than the measurement noise. The probe is the box (tile plus context) the
run that measures will compute, capped at :data:`PROBE_OUTPUT_EDGE` output pixels a side: the
ratio of the two runtimes depends on the size and is close to 1 since PyTorch runs in
``channels_last`` (Denoise on the 2-core CPU: ONNX Runtime 1.05x at 512x512, 1.03x at a 1024 tile;
docs/performance.md). PyTorch runs as the engine runs it (``channels_last``).

A run smaller than :data:`MEASURE_MIN_PIXELS` output pixels uses the recorded decision if
there is one and PyTorch otherwise: there, the measurement would cost more than it saves.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.onnx_cache import cache_folder, versions
from engine.backends.onnx_network import OnnxContext, module_digest, onnx_view
from engine.core.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    from plugins.api import ParamValues, Restorer

ROUNDS = 3
MARGIN = 0.95
"""ONNX Runtime is chosen when its best time is below ``MARGIN`` x PyTorch's."""

MEASURE_MIN_PIXELS = 1024 * 1024
"""Output pixels a run needs before ``auto`` measures an unmeasured plugin (else PyTorch)."""

PROBE_OUTPUT_EDGE = 1024
"""Largest edge of the probe tile's *output* in pixels (input = this / scale, rounded to size_multiple)."""

_lock = threading.Lock()


@dataclass(frozen=True)
class Choice:
    """A recorded decision: ``backend`` (``"torch"``/``"onnx"``), the best seconds of each, why."""

    plugin_id: str
    backend: str
    key: str
    torch_seconds: float | None
    onnx_seconds: float | None
    probe: str
    reason: str
    versions: dict[str, str]


def choices_path() -> Path:
    """``cache_dir()/onnx/choices.json``."""
    return cache_folder("choices").parent / "choices.json"


def read_choices() -> dict[str, Choice]:
    """Every recorded decision by plugin id (an unreadable file reads as none)."""
    try:
        raw = json.loads(choices_path().read_text())
        return {pid: Choice(**entry) for pid, entry in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def _write_choice(choice: Choice) -> None:
    path = choices_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {pid: asdict(c) for pid, c in read_choices().items()}
    data[choice.plugin_id] = asdict(choice)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix="choices.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(data, out, indent=1, sort_keys=True)
    os.replace(tmp, path)


def choice_key(restorer: Restorer, threads: int) -> str:
    """What a decision depends on: the network's weights, the versions, the thread count."""
    text = json.dumps({"weights": module_digest(restorer.network), "threads": threads, **versions()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def probe_edge(restorer: Restorer, scale: int, box: int | None = None) -> int:
    """Input edge of the probe tile: ``box`` (the run's tile box), at most :data:`PROBE_OUTPUT_EDGE` / scale.

    Rounded down to the plugin's size_multiple (never below it).
    """
    m = max(1, restorer.manifest.tiling.size_multiple)
    edge = PROBE_OUTPUT_EDGE // max(1, scale)
    if box is not None and box > 0:
        edge = min(edge, box)
    return max(m, edge // m * m)


def recorded(restorer: Restorer, threads: int) -> Choice | None:
    """The decision recorded for this plugin if it is still valid (same key), else ``None``."""
    found = read_choices().get(restorer.manifest.id)
    return found if found is not None and found.key == choice_key(restorer, threads) else None


def choose(
    restorer: Restorer, params: ParamValues, *, scale: int, output_pixels: int, threads: int, box: int | None = None
) -> Choice | None:
    """The valid recorded decision, or a fresh measurement on a ``box``-pixel probe (``None``: run too small to measure)."""
    with _lock:
        found = recorded(restorer, threads)
        if found is not None or output_pixels < MEASURE_MIN_PIXELS:
            return found
        choice = measure(restorer, params, scale=scale, threads=threads, box=box)
        _write_choice(choice)
        return choice


def measure(restorer: Restorer, params: ParamValues, *, scale: int, threads: int, box: int | None = None) -> Choice:
    """Time PyTorch and ONNX Runtime on a probe tile (see the module docstring); nothing is written."""
    import torch

    manifest = restorer.manifest
    edge = probe_edge(restorer, scale, box)
    channels = 3 if 3 in manifest.channels else manifest.channels[0]
    x = torch.rand((1, channels, edge, edge), generator=torch.Generator().manual_seed(0))
    context = OnnxContext(manifest.id, manifest.tiling.size_multiple, threads, fallback=False)
    backends: dict[str, Any] = {"torch": restorer, "onnx": onnx_view(restorer, context)}
    inputs = {"torch": x.contiguous(memory_format=torch.channels_last), "onnx": x}
    restorer.network.to(memory_format=torch.channels_last)  # type: ignore[attr-defined]  # as the runner runs PyTorch
    key = choice_key(restorer, threads)
    probe = f"{edge}x{edge} input, {threads} threads"
    best: dict[str, float] = {}
    with torch.inference_mode():
        try:
            backends["onnx"].forward(x, params)
        except PluginError as exc:
            return Choice(manifest.id, "torch", key, None, None, probe, f"ONNX export failed: {exc}", versions())
        restorer.forward(inputs["torch"], params)
        for _ in range(ROUNDS):
            for name, view in backends.items():
                start = time.perf_counter()
                view.forward(inputs[name], params)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    faster = best["onnx"] < MARGIN * best["torch"]
    reason = f"measured: onnx {best['torch'] / best['onnx']:.2f}x torch"
    return Choice(manifest.id, "onnx" if faster else "torch", key, best["torch"], best["onnx"], probe, reason, versions())
