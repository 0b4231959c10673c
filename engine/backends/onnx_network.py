"""The ONNX Runtime stand-in for a restorer's network.

A plugin's :meth:`Restorer.forward` runs Python around its network(s): the Denoise plugin
builds a noise-level map and picks a sub-network by a parameter, Upscale passes ``scale=s``,
RED-Net upsamples bicubically first. So the restorer itself is not exported; the *networks it
calls* are. :func:`onnx_view` returns a shallow copy of the restorer whose ``network`` is an
:class:`OnnxNetwork`: calling it (or an entry of it, ``network["gaussian"]``, or a child module
attribute) exports that call on first use (:mod:`engine.backends.onnx_cache`) and runs it in
ONNX Runtime; every other attribute is the real module's. The restorer object the registry
holds is never modified, so a PyTorch run can go on at the same time.

Sessions are kept per process, per module (weakly), per weights state and per call signature,
so a second run neither re-hashes the weights nor re-reads the graph.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.backends.onnx_cache import ExportError, load_or_export, split_call, weights_digest
from engine.core.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from plugins.api import Restorer

_memo: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
_memo_lock = threading.Lock()


def weights_stamp(module: torch.nn.Module) -> tuple[tuple[int, int], ...]:
    """Cheap change detector of a module's tensors: (storage address, in-place version) of each."""
    return tuple((t.data_ptr(), t._version) for t in module.state_dict(keep_vars=True).values())


def module_digest(module: torch.nn.Module) -> str:
    """:func:`weights_digest`, memoised per module until its tensors change."""
    stamp = weights_stamp(module)
    with _memo_lock:
        entry = _memo.setdefault(module, {})
        cached = entry.get(("digest", stamp))
    if cached is None:
        cached = weights_digest(module)
        with _memo_lock:
            entry[("digest", stamp)] = cached
    return cached


@dataclass
class OnnxContext:
    """What one ONNX run shares: the plugin, threads, whether a failed export may fall back.

    ``fallback``: ``True`` (automatic choice) runs a call that cannot be exported in PyTorch
    and notes why in ``warnings``; ``False`` (``--backend onnx``) raises :class:`PluginError`.
    ``export_seconds`` adds up the exports done during this run.
    """

    plugin_id: str
    size_multiple: int
    threads: int
    fallback: bool
    warnings: list[str] = field(default_factory=list)
    export_seconds: float = 0.0
    torch_calls: int = 0

    def session_for(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, list[Any]] | None:
        """``(session, tensors)`` for this call, or ``None`` to run it in PyTorch (fallback)."""
        signature, tensors = split_call(args, kwargs)
        stamp = weights_stamp(module)
        key = ("session", stamp, signature.text(), self.threads)
        with _memo_lock:
            found = _memo.setdefault(module, {}).get(key)
        if found is None:
            try:
                loaded = load_or_export(
                    self.plugin_id, module, signature, tensors, weights=module_digest(module),
                    size_multiple=self.size_multiple, threads=self.threads,
                )  # fmt: skip
                found = loaded.session
                self.export_seconds += loaded.export_seconds
            except ExportError as exc:
                found = exc
            with _memo_lock:
                _memo.setdefault(module, {})[key] = found
        if isinstance(found, ExportError):
            if not self.fallback:
                raise PluginError(self.plugin_id, f"cannot run in ONNX Runtime: {found}; use --backend torch or auto")
            note = f"part of the network runs in PyTorch: ONNX export failed ({found})"
            if note not in self.warnings:
                self.warnings.append(note)
            return None
        return found, tensors


class OnnxNetwork:
    """Calls the wrapped module through ONNX Runtime; everything else is the module's own."""

    def __init__(self, module: torch.nn.Module, context: OnnxContext) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_context", context)

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        import numpy as np
        import torch

        found = self._context.session_for(self._module, args, kwargs)
        if found is None:
            self._context.torch_calls += 1
            return self._module(*args, **kwargs)
        session, tensors = found
        feeds = {f"in{i}": np.ascontiguousarray(t.detach().to("cpu").numpy()) for i, t in enumerate(tensors)}
        try:
            out = session.run(None, feeds)[0]
        except Exception as exc:  # noqa: BLE001 - translate the runtime's allocator failure
            if "alloc" in str(exc).lower():
                raise MemoryError(f"ONNX Runtime out of memory: {exc}") from exc
            raise
        return torch.from_numpy(out)

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._module[key], self._context)

    def __getattr__(self, name: str) -> Any:
        return _wrap(getattr(self._module, name), self._context)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module, name, value)


def _wrap(value: Any, context: OnnxContext) -> Any:
    import torch

    return OnnxNetwork(value, context) if isinstance(value, torch.nn.Module) else value


def onnx_view(restorer: Restorer, context: OnnxContext) -> Restorer:
    """A shallow copy of ``restorer`` whose ``network`` runs in ONNX Runtime (see the module docstring)."""
    view = copy.copy(restorer)
    view.network = OnnxNetwork(restorer.network, context)  # type: ignore[assignment]
    return view
