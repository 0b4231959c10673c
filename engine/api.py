"""The engine's public, Qt-free API: list plugins, run a filter on an image.

The GUI, the command line and the batch code talk to the engine through these functions
only. Importing this module is cheap: torch and plugin code load on first use.

Example::

    from engine.api import apply_filter
    from engine.io import read_image
    doc = read_image("photo.jpg")
    result = apply_filter(doc.pixels, "denoise", {"sigma": "auto"}, progress=print)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from engine.cancel import CancelToken
from engine.core.errors import ParameterError
from engine.core.types import Backend, ProgressCallback, Region, ResolvedValue, RunOptions, RunResult

if TYPE_CHECKING:  # pragma: no cover
    from plugins.api import ParamValue, PluginInfo
    from plugins.registry import PluginRegistry

_default_registry: PluginRegistry | None = None


def get_registry() -> PluginRegistry:
    """The process-wide registry (built-in, user folder, entry points), created on first use."""
    global _default_registry
    if _default_registry is None:
        from plugins.registry import PluginRegistry

        _default_registry = PluginRegistry()
    return _default_registry


def list_plugins(refresh: bool = False) -> list[PluginInfo]:
    """Every discovered plugin, usable or not, sorted by task then name.

    ``refresh=True`` rescans the plugin folders and entry points (the GUI's "Reload plugins").
    Reads manifests and hashes weights; imports no plugin code and no torch.
    """
    registry = get_registry()
    if refresh:
        registry.refresh()
    return registry.plugins()


def apply_filter(
    image: np.ndarray,
    plugin_id: str,
    params: Mapping[str, ParamValue] | None = None,
    *,
    region: Region | None = None,
    mask: np.ndarray | None = None,
    options: RunOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    registry: PluginRegistry | None = None,
) -> RunResult:
    """Run plugin ``plugin_id`` on ``image`` (``(H, W, C)`` float32 in [0, 1], C = 1 or 3).

    - ``params``: values by parameter name (strings from a command line are parsed and
      checked against the manifest's types and ranges; missing ones take their defaults).
    - ``region`` or ``mask`` (not both) restrict the filter; outside pixels stay bit-identical.
      For a super-resolution plugin the region's bounding box is cropped and upscaled.
    - ``progress`` is called after every tile; ``cancel`` is checked between tiles.

    Raises :class:`engine.core.errors.ClarityError` subclasses for every user-facing failure.
    """
    from engine.runner import run_restorer
    from plugins.params import resolve_params

    if region is not None and mask is not None:
        raise ParameterError("give either a region or a mask, not both")
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ParameterError(f"image must be (H, W, 1|3) float32, got shape {image.shape}")
    if region is not None:
        mask = region.to_mask(image.shape[1], image.shape[0])
    reg = registry or get_registry()
    restorer = reg.load(plugin_id)
    values = resolve_params(restorer.manifest, params or {})
    return run_restorer(
        restorer,
        image,
        values,
        mask=mask,
        options=options or RunOptions(),
        progress=progress,
        cancel=cancel,
    )


def analyse_filter(
    image: np.ndarray,
    plugin_id: str,
    params: Mapping[str, ParamValue] | None = None,
    *,
    registry: PluginRegistry | None = None,
) -> dict[str, ResolvedValue]:
    """The values plugin ``plugin_id`` would resolve on ``image`` (e.g. an ``"auto"`` noise level).

    Exactly what :func:`apply_filter` on the same whole image reports as ``RunResult.resolved``,
    without running the network; empty when no parameter is resolved. A preview of a crop can
    pass these values to run as the whole image would. Raises :class:`engine.errors.ClarityError`.
    """
    from engine.runner import analyse_params
    from plugins.params import resolve_params

    restorer = (registry or get_registry()).load(plugin_id)
    values = resolve_params(restorer.manifest, params or {})
    return analyse_params(restorer, image, values)[1]


def set_default_backend(backend: Backend | str) -> None:
    """What runs the networks on the CPU when :class:`RunOptions` leaves ``backend`` as ``None``.

    ``auto`` (initially), ``torch`` or ``onnx``; the app sets it from Edit > Preferences. See
    :mod:`engine.backends` for the policy (GPUs always use PyTorch).
    """
    from engine.backends import set_default_backend as _set

    _set(backend)


def backend_decisions() -> dict[str, str]:
    """What ``auto`` decided per plugin on this machine, e.g. ``{"denoise": "onnx (1.71x torch)"}``."""
    from engine.backends.choice import read_choices

    return {pid: f"{c.backend} ({c.reason})" for pid, c in sorted(read_choices().items())}
