"""The engine half of ``clarity plugin import``: the tiled-vs-whole check, and inspection with it.

:mod:`plugins.community` sits below the engine's run path (import-linter layers), so the check
that runs an imported model through :func:`engine.runner.run_restorer` lives here and is passed
down to :func:`plugins.community.importer.inspect_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.cancel import CancelToken
from engine.core.types import ProgressCallback
from plugins.community.detect import Detection
from plugins.community.importer import ImportPlan
from plugins.community.measure import DEFAULT_MIN_TILE


def tiled_error(descriptor: Any, detection: Detection, context: int, cancel: CancelToken | None = None) -> tuple[float, int]:
    """(max |tiled - whole|, tile) for a probe image run through the engine on the CPU in fp32.

    Geometry from :func:`plugins.community.measure.verification_geometry`: 2 x 2 tiles whose
    input boxes (tile + 2 * context) are smaller than the image.
    """
    from engine.core.types import DeviceKind, Precision, RunOptions
    from engine.runner import run_restorer
    from plugins.api import ParamValues, TilingPolicy, TilingSpec
    from plugins.community.measure import probe_image, probe_manifest, verification_geometry
    from plugins.community.runtime import SpandrelRestorer

    multiple = max(1, detection.size_multiple)
    tile, side = verification_geometry(context, multiple, detection.min_size)
    spec = TilingSpec(policy=TilingPolicy.TILED, context=context, size_multiple=multiple)
    restorer = SpandrelRestorer(probe_manifest(detection, spec), descriptor)
    image = probe_image(side, detection.channels)
    params = ParamValues({})
    whole, tiled = (
        run_restorer(restorer, image, params, mask=None, progress=None, cancel=cancel,
                     options=RunOptions(tile=t, device=DeviceKind.CPU, precision=Precision.FP32)).image
        for t in (0, tile)
    )  # fmt: skip
    return float(np.abs(whole - tiled).max()), tile


def inspect_model(
    path: Path,
    *,
    min_tile: int = DEFAULT_MIN_TILE,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImportPlan:
    """:func:`plugins.community.importer.inspect_model` with the engine's tiled-vs-whole check.

    ``progress`` receives one :class:`~engine.core.types.Progress` per stage
    (:data:`plugins.community.measure.STAGES`); ``cancel`` is polled between stages and before
    every layer of the model, so a cancel stops within one layer's forward pass
    (:class:`~engine.core.errors.CancelledError`). This is the Qt-free call the GUI runs on a
    :class:`gui.worker.Job`.
    """
    from plugins.community.importer import inspect_model as inspect
    from plugins.community.measure import Steps

    steps = Steps(progress, (lambda: cancel.cancelled) if cancel is not None else None)

    def check(descriptor: Any, detection: Detection, context: int) -> tuple[float, int]:
        return tiled_error(descriptor, detection, context, cancel)

    return inspect(path, tiled_error=check, min_tile=min_tile, steps=steps)


__all__ = ["inspect_model", "tiled_error"]
