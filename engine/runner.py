"""Run a :class:`plugins.api.Restorer` over an image, tile by tile, on the chosen device.

:func:`run_restorer` is the single place where the engine turns a loaded plugin and an image
into a result; :func:`engine.api.apply_filter`, the batch code, ``clarity bench`` and the GUI
all go through it. Its contract:

1. ``restorer.network.eval()``; ``restorer.analyse(image, params)`` once on the whole image
   (a gray image going to a colour plugin is shown broadcast to 3 channels, a colour image
   going to a gray-only plugin is shown its green channel, since each channel is then
   restored on its own); the values it changed are ``RunResult.resolved``
   (:func:`analyse_params`).
2. Channels: an image whose channel count the manifest does not accept is adapted by
   :mod:`engine.channels` (the one place): gray to a colour plugin is replicated to 3 channels
   and the output averaged back to 1; colour to a gray plugin runs each channel as its own
   batch item (once, replicated back, when the three channels are identical).
3. Tiling (:mod:`engine.tiling`): overlap = max(``tiling.context``, ``options.overlap``); the
   image is virtually reflect-padded to ``tiling.size_multiple``; each tile keeps only its
   core, so a local network gives the same output tiled or whole. Policies: ``tiled`` uses
   ``options.tile`` (``None``: automatic, ``0``: whole); ``min-tile`` never uses a tile below
   ``tiling.min_tile`` (a plugin that declares ``min_tile = 0`` is run whole) and warns when
   it does tile; ``whole`` never tiles. Scale ``s`` maps tile coordinates by ``s``.
4. Mask / strength: only tiles whose core meets a non-zero mask pixel are computed; the
   result is ``base * (1 - w) + filtered * w`` with ``w = mask * strength`` on pixels where
   ``w > 0``; every other pixel is copied from ``base`` bit for bit. ``base`` is the input
   for scale 1 and its bicubic upscale for super-resolution. With a mask and scale > 1 the
   result covers only the mask's bounding box: that crop is upscaled (with the surrounding
   pixels as network context) and the cropped mask is upscaled by pixel repetition (nearest).
5. The filtered values are clipped to [0, 1]. A restorer output of the wrong shape or with
   NaN/Inf, or an exception inside ``forward``, becomes a :class:`PluginError` naming the plugin.
6. Device and precision as in :mod:`engine.device`; the backend (PyTorch, or ONNX Runtime on
   the CPU) as in :mod:`engine.backends`, which hands back the restorer object to call;
   ``torch.inference_mode`` always;
   the PyTorch backend runs in ``channels_last`` on every device (on the 2-core CPU 1.43x
   faster for Denoise and 1.68x for the weather U-Net at 512x512, docs/performance.md; outputs
   move by ~1e-6); several tiles per forward on a GPU. Out of memory: the tile edge is
   halved (never below :data:`OOM_TILE_FLOOR`, or ``min_tile``) and the run restarted; below
   that floor a GPU run falls back to the CPU in fp32, with a warning in ``RunResult.warnings``.
7. ``progress(Progress(done, total))`` after every forward (batch of tiles);
   ``cancel.raise_if_cancelled()`` before every forward and, with ``options.ensemble > 1``
   (geometric self-ensemble, :mod:`engine.ensemble`), before every pass of it. The passes are
   capped at ``manifest.ensemble`` (what the plugin's training makes valid), with a warning.
   After an out-of-memory retry the count restarts from 0 with the new total.
8. Memory: the output is preallocated and filled tile by tile; apart from the input and the
   output only one batch of tiles is alive (plus a base copy when blending).
9. Deterministic: the same input and options give the same output.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.cancel import CancelToken, interrupt_was_signalled
from engine.channels import ChannelPlan
from engine.core.errors import ClarityError, DeviceError, ParameterError, PluginError
from engine.core.text import one_line
from engine.core.types import (
    Backend,
    Precision,
    Progress,
    ProgressCallback,
    Region,
    ResolvedValue,
    RunOptions,
    RunResult,
)
from engine.device import (
    ExecutionDevice,
    auto_tile_size,
    autocast_dtype,
    balanced_tile,
    cpu_device,
    default_tiles_per_batch,
    is_out_of_memory,
    release_cached_memory,
    resolve_device,
    resolve_precision,
)
from engine.ensemble import ensemble_forward
from engine.tiling import Tile, TilePlan, gather, plan_tiles
from plugins.api import Manifest, ParamValues, Restorer, TilingPolicy

if TYPE_CHECKING:  # pragma: no cover
    from engine.backends import Prepared

OOM_TILE_FLOOR = 64
"""Smallest tile edge an out-of-memory retry halves down to before giving up on the device."""


class _OutOfMemory(Exception):
    """Internal: a forward ran out of memory (carries the original error)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


def output_area(height: int, width: int, mask: np.ndarray | None, scale: int) -> Region:
    """The input area a run returns (``RunResult.area``): the whole image, or the mask's bounding box when ``scale > 1``."""
    if mask is None or scale == 1:
        return Region(0, 0, width, height)
    box = Region.bounding(mask)
    if box is None:
        raise ParameterError("the mask selects no pixel; paint or select the area to upscale")
    return box


def choose_tile(
    manifest: Manifest,
    options: RunOptions,
    device: ExecutionDevice,
    precision: Precision,
    scale: int,
    batch: int,
    image_size: tuple[int, int],
) -> tuple[int, list[str]]:
    """Tile edge for this run after the plugin's tiling policy (0 = whole image), plus warnings.

    An automatic tile (no ``options.tile``) is evened out over the ``(height, width)`` image
    (:func:`engine.device.balanced_tile`); a tile the user chose is kept as given.
    """
    spec = manifest.tiling
    warnings: list[str] = []
    if spec.policy is TilingPolicy.WHOLE:
        if options.tile:
            warnings.append(f"plugin '{manifest.id}' must see the whole image; tile size {options.tile} was ignored")
        return 0, warnings
    tile = options.tile
    if tile is None:
        auto = auto_tile_size(device, scale=scale, precision=precision, tiles_per_batch=batch, tiling=spec)
        tile = balanced_tile(auto, *image_size, multiple=max(16, spec.size_multiple))
    if spec.policy is TilingPolicy.MIN_TILE and tile != 0:
        if spec.min_tile <= 0:
            if options.tile:
                warnings.append(
                    f"plugin '{manifest.id}' declares no safe minimum tile; tile size {options.tile} was ignored"
                )
            return 0, warnings
        tile = max(tile, spec.min_tile)
    return tile, warnings


def run_restorer(
    restorer: Restorer,
    image: np.ndarray,
    params: ParamValues,
    *,
    mask: np.ndarray | None,
    options: RunOptions,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> RunResult:
    """Filter ``image`` (``(H, W, C)`` float32 in [0, 1], C in {1, 3}) with ``restorer``.

    See the module docstring for the full contract. The result has the input's channel count;
    its size is the input's (or, with a mask and scale > 1, the mask's bounding box) times the
    scale. Raises :class:`ClarityError` subclasses: :class:`ParameterError` for a bad image or
    mask, :class:`DeviceError`, :class:`PluginError`, :class:`CancelledError`.
    """
    started = time.perf_counter()
    manifest = restorer.manifest
    image = _check_image(image)
    height, width, channels = image.shape
    if mask is not None:
        mask = _check_mask(mask, height, width)
    chan = ChannelPlan.for_image(image, manifest.channels)

    network = getattr(restorer, "network", None)
    if network is not None:
        network.eval()
    params, resolved = analyse_params(restorer, image, params, chan)
    scale = int(restorer.scale(params))
    if scale < 1:
        raise PluginError(manifest.id, f"scale {scale} is not a positive integer")

    device = resolve_device(options.device)
    precision = resolve_precision(options.precision, manifest, device)
    batch = options.tiles_per_batch or default_tiles_per_batch(device)
    tile, warnings = choose_tile(manifest, options, device, precision, scale, batch, (height, width))
    passes = min(options.ensemble, manifest.ensemble)
    if passes < options.ensemble:
        warnings.append(
            f"plugin '{manifest.id}' allows at most {manifest.ensemble} self-ensemble passes (its training data "
            f"does not look the same turned or flipped); ran {passes}"
        )

    area = output_area(height, width, mask, scale)
    overlap = max(manifest.tiling.context, options.overlap or 0)
    policy = manifest.tiling.policy
    can_halve = policy is TilingPolicy.TILED or (policy is TilingPolicy.MIN_TILE and manifest.tiling.min_tile > 0)
    floor = max(OOM_TILE_FLOOR, manifest.tiling.min_tile if policy is TilingPolicy.MIN_TILE else 0)

    prepared = None
    while True:
        if prepared is None or prepared.device is not device:
            box = tile + 2 * overlap if 0 < tile < max(height, width) else max(height, width)
            prepared = _prepare_backend(restorer, options, device, precision, params, scale, area, box)
        plan = plan_tiles(height, width, tile=tile, overlap=overlap, size_multiple=max(1, manifest.tiling.size_multiple))
        selected = plan.select(area, mask)
        try:
            out = _run_plan(
                prepared.backend.restorer, image, params, selected, area, scale, chan, mask, options.strength,
                device, precision, batch, progress, cancel, channels_last=prepared.backend.name == "torch",
                ensemble=passes,
            )  # fmt: skip
            break
        except _OutOfMemory as oom:
            release_cached_memory(device)
            current = plan.tile or max(plan.canvas_height, plan.canvas_width)
            if can_halve and current // 2 >= floor:
                tile = current // 2
                warnings.append(f"out of memory on {device.label}; retried with tile {tile}")
                continue
            if device.is_gpu:
                warnings.append(
                    f"out of memory on {device.label} even with tile {current}; fell back to the CPU (slower, fp32)"
                )
                device, precision, batch = cpu_device(), Precision.FP32, 1
                tile, _ = choose_tile(manifest, options, device, precision, scale, batch, (height, width))
                continue
            raise DeviceError(
                f"out of memory on the CPU with tile {current} ({oom}); close other programs, "
                "or process a smaller image or region"
            ) from oom.original

    if policy is TilingPolicy.MIN_TILE and plan.tile != 0 and len(plan.tiles) > 1:
        warnings.append(
            f"plugin '{manifest.id}' normalises over each tile; with tiles of {plan.tile} px the result "
            "can differ slightly from a whole-image run"
        )
    warnings += [w for w in prepared.backend.run_warnings() if w not in warnings]
    return RunResult(
        image=out,
        seconds=time.perf_counter() - started,
        device=device.label,
        precision=precision,
        tile=plan.tile,
        tiles=len(selected.tiles),
        area=area,
        scale=scale,
        warnings=tuple(warnings),
        resolved=resolved,
        backend=prepared.backend.name,
    )


def analyse_params(
    restorer: Restorer, image: np.ndarray, params: ParamValues, chan: ChannelPlan | None = None
) -> tuple[ParamValues, dict[str, ResolvedValue]]:
    """``restorer.analyse`` on the whole ``(H, W, C)`` image as the run shows it (see step 1).

    Returns the resolved parameters and the values ``analyse`` changed, by name (what
    ``RunResult.resolved`` reports). A failure inside ``analyse`` becomes a :class:`PluginError`.
    ``chan``: the run's channel plan (worked out here when not given).
    """
    image = _check_image(image)
    if chan is None:
        chan = ChannelPlan.for_image(image, restorer.manifest.channels)
    try:
        after = restorer.analyse(chan.analysis_view(image), params)
    except ClarityError:
        raise
    except Exception as exc:  # noqa: BLE001 - plugin code: isolate every failure
        raise PluginError(restorer.manifest.id, f"analyse() failed: {type(exc).__name__}: {exc}") from exc
    changed = {k: v for k, v in after.values.items() if params.values.get(k) != v}
    return after, changed


@dataclass(frozen=True)
class _BackendOnDevice:
    backend: Prepared
    device: ExecutionDevice


def _prepare_backend(
    restorer: Restorer, options: RunOptions, device: ExecutionDevice, precision: Precision, params: ParamValues,
    scale: int, area: Region, box: int,
) -> _BackendOnDevice:  # fmt: skip
    """The backend hook (:mod:`engine.backends`): which restorer object runs the forwards on ``device``.

    ``box``: the input edge of one forward (tile plus context, or the whole image's longest side).
    A reduced precision runs under ``torch.autocast``, which only the PyTorch backend honours: it
    takes the PyTorch backend, and an explicit ``--backend onnx`` with it is refused.
    """
    from engine.backends import prepare

    backend = options.backend
    if precision is not Precision.FP32 and not device.is_gpu:
        if backend is Backend.ONNX:
            raise DeviceError(f"the ONNX backend runs in fp32 only; use --precision fp32, or --backend torch for {precision.value}")
        backend = Backend.TORCH
    pixels = area.height * area.width * scale * scale
    chosen = prepare(restorer, backend, device, params, scale=scale, output_pixels=pixels, box=box)
    return _BackendOnDevice(chosen, device)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] not in (1, 3):
        shape = getattr(image, "shape", None)
        raise ParameterError(f"image must be an (H, W, 1|3) array, got shape {shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ParameterError(f"image {image.shape[1]}x{image.shape[0]} is empty")
    return np.asarray(image, dtype=np.float32)


def _check_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.shape != (height, width):
        shape = getattr(mask, "shape", None)
        raise ParameterError(f"mask shape {shape} does not match the {width}x{height} image; it must be ({height}, {width})")
    return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)


def _bicubic(image: np.ndarray, area: Region, scale: int) -> np.ndarray:
    import cv2

    crop = image[area.slices]
    up = cv2.resize(crop, (area.width * scale, area.height * scale), interpolation=cv2.INTER_CUBIC)
    return np.clip(up.reshape(area.height * scale, area.width * scale, image.shape[2]), 0.0, 1.0)


def _chunks(tiles: Sequence[Tile], size: int) -> Iterator[Sequence[Tile]]:
    for i in range(0, len(tiles), max(1, size)):
        yield tiles[i : i + max(1, size)]


def _run_plan(
    restorer: Restorer,
    image: np.ndarray,
    params: ParamValues,
    plan: TilePlan,
    area: Region,
    scale: int,
    chan: ChannelPlan,
    mask: np.ndarray | None,
    strength: float,
    device: ExecutionDevice,
    precision: Precision,
    batch: int,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    *,
    channels_last: bool,
    ensemble: int = 1,
) -> np.ndarray:
    """Fill and return the output for ``area`` (raises :class:`_OutOfMemory` to ask for a retry).

    ``channels_last``: run the network and its input in ``torch.channels_last`` (the PyTorch
    backend; ONNX Runtime takes plain contiguous arrays). ``ensemble``: self-ensemble passes
    per batch of tiles (:mod:`engine.ensemble`; the cancel token is also checked between passes).
    """
    import torch

    blend = mask is not None or strength < 1.0
    out_shape = (area.height * scale, area.width * scale, chan.image_channels)
    if not blend:
        out = np.empty(out_shape, np.float32)
    elif scale == 1:
        out = np.array(image[area.slices], dtype=np.float32)
    else:
        out = _bicubic(image, area, scale)

    network = getattr(restorer, "network", None)
    if network is not None:
        network.to(device.torch_device)
        network.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    total, done = len(plan.tiles), 0
    with torch.inference_mode():
        for chunk in _chunks(plan.tiles, batch):
            if cancel is not None:
                cancel.raise_if_cancelled()
            filtered = _forward(
                restorer, image, params, chunk, scale, chan, device, precision, channels_last, ensemble, cancel
            )
            for tile, tile_out in zip(chunk, filtered):
                _place(out, tile, tile_out, area, scale, mask, strength if blend else None)
            del filtered
            done += len(chunk)
            if progress is not None:
                progress(Progress(done, total))
    return out


def _forward(
    restorer: Restorer,
    image: np.ndarray,
    params: ParamValues,
    chunk: Sequence[Tile],
    scale: int,
    chan: ChannelPlan,
    device: ExecutionDevice,
    precision: Precision,
    channels_last: bool,
    ensemble: int = 1,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Network output for a batch of tiles as ``(N, bh*s, bw*s, C)`` float32 in [0, 1].

    With ``ensemble > 1`` the output is the mean over that many flipped / rotated passes
    (:func:`engine.ensemble.ensemble_forward`), with ``cancel`` checked between passes.
    """
    import torch

    pid = restorer.manifest.id
    stacked = np.stack([gather(image, t.box) for t in chunk])  # (N, h, w, C)
    n, h, w, _ = stacked.shape
    x = chan.to_network(torch.from_numpy(stacked).permute(0, 3, 1, 2))  # (N, C, h, w) -> the network's batch
    x = x.to(device.torch_device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
    dtype = autocast_dtype(precision)
    ctx = torch.autocast(device.torch_device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    try:
        with ctx:
            between = cancel.raise_if_cancelled if cancel is not None else None
            y = ensemble_forward(lambda t: restorer.forward(t, params), x, ensemble, between)
    except ClarityError:
        raise
    except KeyboardInterrupt as exc:
        if interrupt_was_signalled():  # the user's Ctrl+C/SIGTERM: stop as asked
            raise
        raise PluginError(pid, f"forward() raised KeyboardInterrupt on a {w}x{h} tile (plugin bug)") from exc
    except SystemExit as exc:  # a plugin calling sys.exit() fails alone, never ends the program
        raise PluginError(pid, f"forward() called sys.exit({exc.code!r}) on a {w}x{h} tile (plugin bug)") from exc
    except Exception as exc:  # noqa: BLE001 - plugin code: isolate every failure
        if is_out_of_memory(exc):
            raise _OutOfMemory(exc) from exc
        raise PluginError(pid, f"forward() failed on a {w}x{h} tile: {type(exc).__name__}: {one_line(exc)}") from exc
    del x
    items = chan.items(n)
    expected = (items, chan.net_channels, h * scale, w * scale)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != expected:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise PluginError(pid, f"forward() returned {got} for a batch of {items} tiles; expected {expected}")
    y = y.float()
    if not bool(torch.isfinite(y).all()):
        raise PluginError(pid, "forward() produced NaN or infinite values; the weights or parameters are broken")
    y = chan.from_network(y.clamp_(0.0, 1.0), n)
    y = y.permute(0, 2, 3, 1).to("cpu")
    return np.ascontiguousarray(y.numpy())


def _place(
    out: np.ndarray,
    tile: Tile,
    tile_out: np.ndarray,
    area: Region,
    scale: int,
    mask: np.ndarray | None,
    strength: float | None,
) -> None:
    """Write (or blend) the part of ``tile``'s core inside ``area`` into ``out``."""
    piece = tile.core.intersect(area)
    if piece is None:
        return
    s = scale
    src = tile_out[
        (piece.y0 - tile.box.y0) * s : (piece.y1 - tile.box.y0) * s,
        (piece.x0 - tile.box.x0) * s : (piece.x1 - tile.box.x0) * s,
    ]
    dst = out[(piece.y0 - area.y0) * s : (piece.y1 - area.y0) * s, (piece.x0 - area.x0) * s : (piece.x1 - area.x0) * s]
    if strength is None:
        dst[...] = src
        return
    if mask is None:
        dst[...] = dst * (1.0 - strength) + src * strength
        return
    weight = mask[piece.slices] * np.float32(strength)
    if s > 1:
        weight = np.repeat(np.repeat(weight, s, axis=0), s, axis=1)
    weight = weight[:, :, None]
    blended = dst * (1.0 - weight) + src * weight
    dst[...] = np.where(weight > 0, blended, dst)
