"""Backends: what runs a plugin's network forward. PyTorch everywhere; ONNX Runtime on the CPU.

The runner asks :func:`prepare` for the restorer to call: the plugin's own (PyTorch) or a view
of it whose networks run in ONNX Runtime (:mod:`engine.backends.onnx_network`). Tiling,
regions, masks, strength, cancel and progress stay in the runner, so they behave the same with
either backend. Policy:

- a GPU run always uses PyTorch; ``--backend onnx`` with a GPU device is a
  :class:`DeviceError` (use ``--device cpu``);
- ``torch``: PyTorch. ``onnx``: ONNX Runtime; a plugin that opts out (``onnx = false`` in its
  manifest), a missing ``onnxruntime`` package or a network that does not export is an error
  naming the fix;
- ``auto`` (default): the decision recorded for the plugin by :mod:`engine.backends.choice`
  (measured on first use, re-checked when the weights or the runtime change); PyTorch when
  the plugin opts out, ``onnxruntime`` is missing or no decision exists for a small run; a
  network that fails to export runs in PyTorch with a warning.
- ``None`` in :class:`RunOptions` means the process default (:func:`set_default_backend`,
  initially ``auto``); the app sets it from Edit > Preferences.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.core.errors import DeviceError, PluginError
from engine.core.types import Backend

if TYPE_CHECKING:  # pragma: no cover
    from engine.backends.onnx_network import OnnxContext
    from engine.device import ExecutionDevice
    from plugins.api import ParamValues, Restorer

_default = Backend.AUTO


def set_default_backend(backend: Backend | str) -> None:
    """The backend used when :class:`RunOptions` leaves ``backend`` as ``None`` (the app's preference)."""
    global _default
    _default = Backend(backend)


def default_backend() -> Backend:
    """The process default (see :func:`set_default_backend`)."""
    return _default


def onnx_available() -> bool:
    """True when the ``onnxruntime`` and ``onnx`` packages can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


@dataclass
class Prepared:
    """The restorer to call, the backend's name, and warnings/exports gathered during the run."""

    restorer: Restorer
    name: str
    warnings: list[str] = field(default_factory=list)
    context: OnnxContext | None = None

    def run_warnings(self) -> list[str]:
        """Warnings of the preparation plus those raised while the run went on."""
        return self.warnings + (self.context.warnings if self.context else [])


def prepare(
    restorer: Restorer,
    requested: Backend | None,
    device: ExecutionDevice,
    params: ParamValues,
    *,
    scale: int,
    output_pixels: int,
    box: int | None = None,
) -> Prepared:
    """The backend for this run (see the module docstring for the policy).

    ``box``: the input edge of one forward of this run (tile plus context), the size ``auto``
    measures at when the plugin has no valid recorded decision.
    """
    requested = default_backend() if requested is None else Backend(requested)
    manifest = restorer.manifest
    if requested is Backend.TORCH:
        return Prepared(restorer, "torch")
    if device.is_gpu:
        if requested is Backend.ONNX:
            raise DeviceError(f"the ONNX backend runs on the CPU only and this run is on {device.label}; "
                              "use --device cpu, or --backend auto")  # fmt: skip
        return Prepared(restorer, "torch")
    opted_out = not getattr(manifest, "onnx", True)
    network = getattr(restorer, "network", None)
    if requested is Backend.ONNX:
        if not onnx_available():
            raise DeviceError("the ONNX backend needs the onnxruntime and onnx packages; "
                              "pip install onnxruntime onnx, or use --backend torch")  # fmt: skip
        if opted_out:
            raise PluginError(manifest.id, "opts out of ONNX in its manifest (onnx = false); use --backend torch or auto")
        if network is None:
            raise PluginError(manifest.id, "has no network to export; use --backend torch or auto")
        return _onnx(restorer, fallback=False)
    if opted_out or network is None or not onnx_available():
        return Prepared(restorer, "torch")
    from engine.backends.choice import choose

    threads = _threads()
    choice = choose(restorer, params, scale=scale, output_pixels=output_pixels, threads=threads, box=box)
    if choice is None or choice.backend != "onnx":
        return Prepared(restorer, "torch")
    return _onnx(restorer, fallback=True)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _onnx(restorer: Restorer, *, fallback: bool) -> Prepared:
    from engine.backends.onnx_network import OnnxContext, onnx_view

    manifest = restorer.manifest
    context = OnnxContext(manifest.id, manifest.tiling.size_multiple, _threads(), fallback=fallback)
    return Prepared(onnx_view(restorer, context), "onnx", context=context)
