"""Receptive field and tiling policy of an imported model, measured at import.

spandrel says whether tiling is supported/discouraged/internal but gives no receptive field.
Contract of :func:`decide_tiling`:

1. spandrel ``internal`` tiling -> policy ``whole``.
2. The receptive-field radius is measured by autograd (:func:`plugins.nets.receptive.measured_context`)
   on probes of :data:`PROBE_SIZES` input pixels (several phases for strided networks). A radius
   that reaches the probe's border at the largest probe means a global operation (global pooling,
   channel attention, instance/layer norm over space, global attention) or a field wider than the
   probe: the model is *not local*.
3. A local model that spandrel marks ``supported`` is then *verified* through the engine itself
   (``tiled_error``, injected by the caller):
   a probe image run as 2 x 2 tiles whose input boxes (overlap = the measured context) are smaller
   than the image (:func:`verification_geometry`) must equal the whole-image run within :data:`TILE_TOLERANCE`; if not (e.g. windows aligned to the image grid), the context
   is doubled once and re-verified. Success -> policy ``tiled`` with that context.
4. Everything else (spandrel ``discouraged``, not local, failed verification, a model whose
   gradient cannot be measured) -> policy ``min-tile`` with ``min_tile`` (default
   :data:`DEFAULT_MIN_TILE`; ``0`` makes it ``whole``). The engine then never uses smaller tiles
   and warns when it tiles at all: never silent seams.

Bounds: the autograd graph of a probe grows with its area. Each probe's graph is measured (bytes
of the tensors autograd saves, :func:`saved_bytes`) and the next, larger probe is only run when
its predicted graph (scaled by area) stays within :data:`MEASURE_MEMORY_BUDGET`. A model too large
for a wider probe is then treated as not local at the largest probe it could afford (a full-size
RRDB "Real-ESRGAN x4plus" stops at 96 px instead of needing about 10 GB at 192 px).

Progress and cancel: every function taking ``steps`` (a :class:`Steps`) reports each stage and
calls ``steps.check()`` between stages and before every layer of the model (forward pre-hooks),
which raises :class:`~engine.core.errors.CancelledError` once the caller asked to stop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import CancelledError
from engine.core.types import Progress
from plugins.api import Manifest, TilingPolicy, TilingSpec
from plugins.community.detect import Detection

PROBE_SIZES: tuple[int, ...] = (48, 96, 192, 384)
"""Input sizes of the receptive-field probes, tried in order until the field fits."""

TILE_TOLERANCE = 1e-4
"""Largest allowed |tiled - whole| for policy ``tiled`` (fp32)."""

DEFAULT_MIN_TILE = 512
"""Smallest tile for non-local models unless ``--min-tile`` says otherwise."""

MEASURE_MEMORY_BUDGET = 2 * 1024**3
"""Largest predicted autograd graph (bytes) of a receptive-field probe; larger probes are skipped."""

STAGES: tuple[str, ...] = (
    "reading the file",
    "detecting the architecture",
    "test run",
    "measuring the receptive field",
    "checking tiled against whole-image output",
)
"""The stages of an inspection, in order; :class:`Progress` ``done`` counts the finished ones."""


class Steps:
    """Progress reports and cancel checks of one inspection (thread-safe to call from its thread).

    ``report`` receives :class:`~engine.core.types.Progress` (``done`` of ``len(STAGES)``, the
    stage in ``message``); ``should_stop`` returns True once the user asked to cancel.
    """

    def __init__(self, report: Callable[[Progress], None] | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        self._report = report
        self._should_stop = should_stop

    def check(self) -> None:
        """Raise :class:`CancelledError` if the caller asked to stop."""
        if self._should_stop is not None and self._should_stop():
            raise CancelledError()

    def stage(self, index: int, detail: str = "") -> None:
        """Check for cancel, then report that stage ``index`` of :data:`STAGES` starts."""
        self.check()
        if self._report is not None:
            text = STAGES[index] + (f" ({detail})" if detail else "")
            self._report(Progress(index, len(STAGES), text))

    @contextlib.contextmanager
    def interruptible(self, model: Any) -> Iterator[None]:
        """While inside, every sub-module of ``model`` checks for cancel before it runs."""
        if self._should_stop is None:
            yield
            return
        handles = [m.register_forward_pre_hook(lambda _m, _x: self.check()) for m in model.modules()]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


NO_STEPS = Steps()


@dataclass(frozen=True)
class TilingDecision:
    """The ``[tiling]`` table of the generated manifest and why it was chosen.

    ``radius``: measured receptive-field radius in input pixels, ``None`` when not local or not
    measurable. ``tiled_error``: max |tiled - whole| of the verification run (``None`` if not run).
    """

    spec: TilingSpec
    radius: int | None
    probe: int
    tiled_error: float | None
    reason: str
    seconds: float = field(default=0.0, compare=False)
    """Wall time of the measurement (test run, receptive field, tiled check)."""


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def call_function(descriptor: Any) -> Callable[[Any], Any]:
    """``x -> output`` exactly as spandrel's descriptor computes it, but with autograd enabled."""
    call = getattr(descriptor, "_call_fn", None)  # spandrel 0.4: the architecture's call function
    model = descriptor.model.eval()  # batch norm must use its running statistics
    if call is None:
        return model
    return lambda x: call(model, x)


def check_runs(descriptor: Any, detection: Detection, steps: Steps = NO_STEPS) -> None:
    """Run the model once on a small probe; a failure or a wrong output shape is a ModelFileError."""
    import torch

    from plugins.community.model_file import ModelFileError

    size = _round_up(max(PROBE_SIZES[0], detection.min_size), max(1, detection.size_multiple))
    x = torch.rand((1, detection.channels, size, size), generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode(), steps.interruptible(descriptor.model):
            y = call_function(descriptor)(x)
    except CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - third-party model code
        raise ModelFileError(
            f"{detection.arch_name} model failed on a {size}x{size} test image: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        ) from exc
    expected = (1, detection.channels, size * detection.scale, size * detection.scale)
    if tuple(y.shape) != expected or not bool(torch.isfinite(y).all()):
        raise ModelFileError(
            f"{detection.arch_name} model returned shape {tuple(y.shape)} (expected {expected}) "
            "or non-finite values on a test image"
        )


def saved_bytes(forward: Callable[[Any], Any], x: Any) -> tuple[Any, int]:
    """(``forward(x)``, bytes of the distinct tensors autograd saved for the backward pass)."""
    import torch

    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), t.device.index or 0)] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. sparse)
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = forward(x)
    return y, sum(seen.values())


def measure_radius(
    descriptor: Any, detection: Detection, *, budget: int = MEASURE_MEMORY_BUDGET, steps: Steps = NO_STEPS
) -> tuple[int | None, int, str]:
    """(radius or ``None``, probe size, why ``None``): ``None`` when the field reaches the
    border of the largest probe run, when the next probe would exceed ``budget`` bytes of
    autograd graph, or when the gradient cannot be measured."""
    import torch

    from plugins.nets.receptive import measured_context

    forward = call_function(descriptor)
    multiple = max(1, detection.size_multiple)
    offsets = (0,) if multiple == 1 else (0, multiple // 2, multiple - 1)  # phases of strided layers
    size, graph = 0, 0
    for base in PROBE_SIZES:
        if detection.scale > 1 and base > PROBE_SIZES[2]:
            break  # super-resolution outputs grow by scale**2: stop at the third probe
        previous, size = size, _round_up(max(base, detection.min_size), multiple)
        if graph and graph * (size / previous) ** 2 > budget:
            predicted = graph * (size / previous) ** 2 / 1024**3
            return None, previous, (
                f"receptive field wider than the {previous} px probe; a {size} px probe would need about "
                f"{predicted:.1f} GiB (limit {budget / 1024**3:.1f} GiB)"
            )  # fmt: skip
        steps.stage(3, f"{size} px probe")

        def probed(x: Any) -> Any:
            nonlocal graph
            y, graph = saved_bytes(forward, x)
            return y

        try:
            with torch.enable_grad(), steps.interruptible(descriptor.model):
                radius = measured_context(probed, detection.channels, size, scale=detection.scale, offsets=offsets)
        except CancelledError:
            raise
        except Exception:  # noqa: BLE001 - in-place ops or no_grad blocks: not measurable
            return None, size, "the receptive field cannot be measured by autograd"
        if radius + max(offsets) < size // 2 - 1:
            return radius, size, ""
    return None, size, f"receptive field reaches the border of a {size} px probe (global operation)"


def probe_manifest(detection: Detection, spec: TilingSpec) -> Manifest:
    """An in-memory manifest used to run the model through the engine during the verification."""
    from plugins.api import Task

    return Manifest(
        id="import-probe", name="probe", version="0", task=Task.OTHER, menu="probe", folder=Path("."),
        scales=(detection.scale,), channels=(detection.channels,), tiling=spec,
    )  # fmt: skip


def verification_geometry(context: int, multiple: int, min_size: int = 0) -> tuple[int, int]:
    """(tile, image side) for a tiled-vs-whole check that really crops: 2 x 2 tiles whose input
    boxes (tile + 2 * context) are smaller than the image, so every tile sees only part of it."""
    multiple = max(1, multiple)
    tile = _round_up(max(16, min_size, 2 * context + 8), multiple)
    side = _round_up(tile + 2 * context, multiple) + 5  # odd: exercises the padding too
    return tile, side


def probe_image(side: int, channels: int, seed: int = 0) -> np.ndarray:
    """A ``(side, side, channels)`` float32 test image in [0, 1]: gradients plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    image = np.stack([xx, yy, (xx + yy) / 2], axis=-1)[..., :channels]
    return np.clip(image + 0.1 * rng.standard_normal(image.shape).astype(np.float32), 0, 1).astype(np.float32)


TiledError = Callable[[Any, Detection, int], tuple[float, int]]
"""``(descriptor, detection, context) -> (max |tiled - whole|, tile)``: the engine's tiled-vs-whole
check, injected by the caller (:func:`engine.model_import.tiled_error`): plugins sit below the
engine's run path and cannot import it."""


def decide_tiling(
    descriptor: Any,
    detection: Detection,
    *,
    tiled_error: TiledError,
    min_tile: int = DEFAULT_MIN_TILE,
    budget: int = MEASURE_MEMORY_BUDGET,
    steps: Steps = NO_STEPS,
) -> TilingDecision:
    """The tiling policy for an imported model (see the module contract)."""
    started = time.perf_counter()
    multiple = max(1, detection.size_multiple)
    fallback_min = 0 if min_tile == 0 else _round_up(max(min_tile, detection.min_size), multiple)
    fallback_policy = TilingPolicy.MIN_TILE if fallback_min else TilingPolicy.WHOLE

    def decision(spec: TilingSpec, radius: int | None, probe: int, error: float | None, reason: str) -> TilingDecision:
        return TilingDecision(spec, radius, probe, error, reason, seconds=time.perf_counter() - started)

    def fallback(radius: int | None, probe: int, error: float | None, why: str) -> TilingDecision:
        context = radius if radius is not None else probe // 2
        spec = TilingSpec(policy=fallback_policy, context=context, size_multiple=multiple, min_tile=fallback_min)
        how = f"tiles of at least {fallback_min} px (a warning is shown when it tiles)" if fallback_min else "whole image"
        return decision(spec, radius, probe, error, f"{why}; runs with {how}")

    if detection.spandrel_tiling == "internal":
        spec = TilingSpec(policy=TilingPolicy.WHOLE, context=0, size_multiple=multiple)
        return decision(spec, None, 0, None, "spandrel: the model tiles internally; runs on the whole image")
    steps.stage(2)
    check_runs(descriptor, detection, steps)
    radius, probe, why = measure_radius(descriptor, detection, budget=budget, steps=steps)
    if radius is None:
        return fallback(None, probe, None, why)
    if detection.spandrel_tiling != "supported":
        return fallback(radius, probe, None, f"spandrel marks tiling as {detection.spandrel_tiling} (e.g. window attention)")
    error = None
    for context in (radius, 2 * radius + multiple):
        steps.stage(4, f"overlap {context} px")
        error, tile = tiled_error(descriptor, detection, context)
        if error <= TILE_TOLERANCE:
            spec = TilingSpec(policy=TilingPolicy.TILED, context=context, size_multiple=multiple)
            return decision(
                spec, radius, probe, error,
                f"local: receptive-field radius {radius} px; {tile} px tiles with overlap {context} equal the "
                f"whole image within {error:.1e}",
            )  # fmt: skip
    return fallback(radius, probe, error, f"tiled output differs from whole-image output by {error:.1e}")


__all__ = [
    "DEFAULT_MIN_TILE",
    "MEASURE_MEMORY_BUDGET",
    "NO_STEPS",
    "PROBE_SIZES",
    "STAGES",
    "TILE_TOLERANCE",
    "Steps",
    "TiledError",
    "TilingDecision",
    "decide_tiling",
    "measure_radius",
    "probe_image",
    "saved_bytes",
    "verification_geometry",
]
