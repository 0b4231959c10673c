"""Export one network call to ONNX and keep the graph in the user cache folder.

A *call* is a module plus the way a restorer calls it: which arguments are tensors (graph
inputs, with dynamic batch, height and width) and which are plain values (baked into the
graph, e.g. ``scale=4``). :func:`load_or_export` returns an ONNX Runtime session for it:

- cache entry: ``cache_dir()/onnx/<plugin id>/<key>.onnx`` plus ``<key>.json`` (its sha256,
  the versions, the export time). ``key`` is a sha256 over the module's tensors (names,
  shapes, dtypes, bytes: the *weights* it really holds, whatever file they came from), its
  class, the call signature, :data:`EXPORT_FORMAT`, the ONNX opset and the torch and
  onnxruntime versions, so new weights or a new exporter/runtime never reuse an old graph;
- an entry whose file is missing, whose sha256 does not match its record, or that ONNX
  Runtime cannot load is exported again (written to a temporary file, then renamed);
- every fresh export is verified against PyTorch on two input sizes different from the one
  it was traced at (max abs difference <= :data:`VERIFY_TOLERANCE`), which catches a tracer
  that froze a size or a branch; a call that fails raises :class:`ExportError`.

The legacy TorchScript exporter is used (``dynamo=False``): it exports every built-in plugin
with dynamic height/width in about a second and needs only the ``onnx`` package.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime
    import torch

EXPORT_FORMAT = 1
"""Bumped whenever the way graphs are exported changes (invalidates every cache entry)."""

OPSET = 17
VERIFY_TOLERANCE = 1e-4
"""Largest abs difference between ONNX Runtime and PyTorch accepted when verifying an export."""

_lock = threading.Lock()


class ExportError(Exception):
    """A network call could not be exported (or its export does not match PyTorch)."""


@dataclass(frozen=True)
class CallSignature:
    """How a restorer calls a network: tensor argument slots and the constant values.

    ``tensor_slots`` name where each tensor goes: ``"0"``, ``"1"`` (positional) or a keyword;
    ``constants`` holds every non-tensor argument as ``(slot, value)``; ``ranks`` and ``dtypes``
    describe the tensors; ``channels`` is each tensor's dim 1 (fixed in the graph).
    """

    tensor_slots: tuple[str, ...]
    constants: tuple[tuple[str, Any], ...]
    ranks: tuple[int, ...]
    channels: tuple[int, ...]
    dtypes: tuple[str, ...]

    def text(self) -> str:
        """A stable description used in the cache key."""
        return repr((self.tensor_slots, self.constants, self.ranks, self.channels, self.dtypes))


def split_call(args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[CallSignature, list[torch.Tensor]]:
    """The signature of a call and its tensors in slot order."""
    import torch

    slots: list[str] = []
    tensors: list[torch.Tensor] = []
    constants: list[tuple[str, Any]] = []
    for slot, value in [(str(i), a) for i, a in enumerate(args)] + sorted(kwargs.items()):
        if isinstance(value, torch.Tensor):
            slots.append(slot)
            tensors.append(value)
        else:
            constants.append((slot, value))
    signature = CallSignature(
        tuple(slots),
        tuple(constants),
        tuple(t.dim() for t in tensors),
        tuple(int(t.shape[1]) if t.dim() > 1 else -1 for t in tensors),
        tuple(str(t.dtype) for t in tensors),
    )
    return signature, tensors


def rebuild_call(signature: CallSignature, tensors: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments from a signature's constants and the given tensors."""
    values = dict(signature.constants)
    values.update(zip(signature.tensor_slots, tensors))
    positional = sorted((int(k), v) for k, v in values.items() if k.isdigit())
    return [v for _, v in positional], {k: v for k, v in values.items() if not k.isdigit()}


def versions() -> dict[str, str]:
    """The versions a cached graph depends on."""
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "opset": str(OPSET),
            "format": str(EXPORT_FORMAT)}  # fmt: skip


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 over a module's class and every tensor of its state dict (names, shapes, bytes)."""
    import torch

    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_key(weights: str, signature: CallSignature) -> str:
    """The cache key of a call (see the module docstring)."""
    text = json.dumps({"weights": weights, "call": signature.text(), **versions()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def cache_folder(plugin_id: str) -> Path:
    """``cache_dir()/onnx/<plugin id>``."""
    from plugins.weights import cache_dir

    return cache_dir() / "onnx" / plugin_id


def new_session(path_or_bytes: Path | bytes, threads: int) -> onnxruntime.InferenceSession:
    """A CPU ONNX Runtime session with ``threads`` intra-op threads (full graph optimisation)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class LoadedGraph:
    """A ready session, where its graph lives, and the export time (0 when read from the cache)."""

    session: Any
    path: Path
    export_seconds: float


def load_or_export(
    plugin_id: str,
    module: torch.nn.Module,
    signature: CallSignature,
    example: Sequence[torch.Tensor],
    *,
    weights: str,
    size_multiple: int,
    threads: int,
) -> LoadedGraph:
    """A session for ``module`` called as ``signature`` (see the module docstring).

    ``example`` are tensors of one real call (only their shapes beyond H/W matter);
    ``size_multiple`` is the plugin's, so the probe sizes are valid network inputs.
    """
    key = cache_key(weights, signature)
    folder = cache_folder(plugin_id)
    graph, record = folder / f"{key}.onnx", folder / f"{key}.json"
    with _lock:
        cached = _read_cached(graph, record, threads)
        if cached is not None:
            return LoadedGraph(cached, graph, 0.0)
        started = time.perf_counter()
        data = export_call(module, signature, example, size_multiple)
        session = new_session(data, threads)
        verify(session, module, signature, example, size_multiple)
        seconds = time.perf_counter() - started
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(graph, data)
        meta = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "export_seconds": seconds,
                "signature": signature.text(), **versions()}  # fmt: skip
        _write_atomic(record, json.dumps(meta, indent=1).encode())
        return LoadedGraph(session, graph, seconds)


def _read_cached(graph: Path, record: Path, threads: int) -> Any | None:
    """The cached session, or ``None`` when the entry is absent, altered or unloadable."""
    try:
        meta = json.loads(record.read_text())
        data = graph.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    try:
        return new_session(data, threads)
    except Exception:  # noqa: BLE001 - any load failure means: rebuild the entry
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _call_module(module: torch.nn.Module, signature: CallSignature) -> torch.nn.Module:
    """``module`` wrapped so that its tensors are positional graph inputs and constants are baked in."""
    import torch

    class Call(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            args, kwargs = rebuild_call(signature, tensors)
            return self.inner(*args, **kwargs)

    # eval: torch.onnx.export restores the wrapper's mode afterwards, and a fresh module is in
    # training mode, which would switch the plugin's network (BatchNorm) to training
    return Call().eval()


def _probe(example: Sequence[torch.Tensor], height: int, width: int) -> list[torch.Tensor]:
    """Seeded random tensors shaped like ``example`` with spatial dims (those > 1) set to ``height``/``width``."""
    import torch

    gen = torch.Generator().manual_seed(height * 7919 + width)
    spatial = [t.dim() == 4 and t.shape[2] > 1 and t.shape[3] > 1 for t in example]
    out = []
    for t, sp in zip(example, spatial):
        shape = (1, *t.shape[1:2], height, width) if sp else (1, *t.shape[1:])
        out.append(torch.rand(shape, generator=gen, dtype=t.dtype))
    return out


def _sizes(size_multiple: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Trace size and two different verification sizes, all multiples of ``size_multiple``."""
    m = max(1, size_multiple)
    base = max(m, -(-16 // m) * m)
    return (base, base), (base + m, base + 2 * m), (base + 3 * m, base)


def export_call(module: torch.nn.Module, signature: CallSignature, example: Sequence[torch.Tensor], size_multiple: int) -> bytes:
    """The ONNX bytes of ``module`` called as ``signature``, with dynamic batch/height/width."""
    import io

    import torch

    trace, _, _ = _sizes(size_multiple)
    names = [f"in{i}" for i in range(len(signature.tensor_slots))]
    dynamic: dict[str, dict[int, str]] = {}
    for name, t in zip(names, example):
        axes = {0: "batch"}
        if t.dim() == 4 and t.shape[2] > 1 and t.shape[3] > 1:
            axes.update({2: "height", 3: "width"})
        dynamic[name] = axes
    dynamic["out"] = {0: "batch", 2: "out_height", 3: "out_width"}
    buffer = io.BytesIO()
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _call_module(module, signature), tuple(_probe(example, *trace)), buffer, dynamo=False,
                input_names=names, output_names=["out"], dynamic_axes=dynamic, opset_version=OPSET,
            )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any exporter failure is reported the same way
        raise ExportError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return buffer.getvalue()


def verify(session: Any, module: torch.nn.Module, signature: CallSignature, example: Sequence[torch.Tensor],
           size_multiple: int) -> float:  # fmt: skip
    """Max abs difference ONNX Runtime vs PyTorch on two sizes; raises :class:`ExportError` above tolerance."""
    import torch

    worst = 0.0
    _, *checks = _sizes(size_multiple)
    call = _call_module(module, signature)
    for height, width in checks:
        inputs = _probe(example, height, width)
        with torch.inference_mode():
            expected = call(*inputs).float().numpy()
        try:
            got = session.run(None, {f"in{i}": t.numpy() for i, t in enumerate(inputs)})[0]
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"ONNX Runtime cannot run the exported graph: {exc}") from exc
        if got.shape != expected.shape:
            raise ExportError(f"exported graph gives shape {got.shape} for {width}x{height}, PyTorch {expected.shape}")
        worst = max(worst, float(abs(got - expected).max()))
    if not worst <= VERIFY_TOLERANCE:
        raise ExportError(f"exported graph differs from PyTorch by {worst:.2e} (> {VERIFY_TOLERANCE:.0e})")
    return worst
