"""The engine half of ``clarity plugin import``: the tiled-vs-whole check, and inspection with it.

:mod:`plugins.community` sits below the engine's run path (import-linter layers), so the check
that runs an imported model through :func:`engine.runner.run_restorer` lives here and is passed
down to :func:`plugins.community.importer.inspect_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from plugins.community.detect import Detection
from plugins.community.importer import ImportPlan
from plugins.community.measure import DEFAULT_MIN_TILE


def tiled_error(descriptor: Any, detection: Detection, context: int) -> tuple[float, int]:
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
        run_restorer(restorer, image, params, mask=None, progress=None, cancel=None,
                     options=RunOptions(tile=t, device=DeviceKind.CPU, precision=Precision.FP32)).image
        for t in (0, tile)
    )  # fmt: skip
    return float(np.abs(whole - tiled).max()), tile


def inspect_model(path: Path, *, min_tile: int = DEFAULT_MIN_TILE) -> ImportPlan:
    """:func:`plugins.community.importer.inspect_model` with the engine's tiled-vs-whole check."""
    from plugins.community.importer import inspect_model as inspect

    return inspect(path, tiled_error=tiled_error, min_tile=min_tile)


__all__ = ["inspect_model", "tiled_error"]
