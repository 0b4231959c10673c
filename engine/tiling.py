"""Tile geometry: where each tile's network input lies and which output pixels it owns.

Pure numpy, no torch. The model of a run is a *canvas*: the image reflect-padded at the bottom
and right to a multiple of the plugin's ``size_multiple``. A whole-image run feeds the canvas
to the network and crops the result back; a tiled run cuts the canvas into tiles whose
*cores* partition it and whose input *boxes* extend each core by at least ``overlap`` pixels
on every side that is not a canvas edge. Every box has the same size (so tiles batch) and a
size that is a multiple of ``size_multiple``. Only each core is kept from a tile's output
("centre crop"), so for a network that is local within ``context <= overlap`` pixels the tiled
result equals the whole-image result exactly (up to float summation order).

The canvas is never materialised: :func:`gather` reads a box, mapping padded rows/columns back
into the image by reflection (with repeated reflection for images smaller than the padding and
replication for a 1-pixel image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.core.types import Region


@dataclass(frozen=True)
class Tile:
    """One tile: the network reads ``box``; the output pixels of ``core`` (inside the image) are kept."""

    index: int
    core: Region
    box: Region


@dataclass(frozen=True)
class TilePlan:
    """All tiles of an image. ``tile == 0`` means one tile covering the whole canvas."""

    image_height: int
    image_width: int
    canvas_height: int
    canvas_width: int
    tile: int
    overlap: int
    tiles: tuple[Tile, ...]

    @property
    def box_height(self) -> int:
        """Height of every tile's input box."""
        return self.tiles[0].box.height

    @property
    def box_width(self) -> int:
        """Width of every tile's input box."""
        return self.tiles[0].box.width

    def select(self, area: Region | None = None, mask: np.ndarray | None = None) -> TilePlan:
        """The tiles whose core meets ``area`` and, if given, a non-zero pixel of ``mask`` ``(H, W)``."""
        kept = []
        for t in self.tiles:
            core = t.core if area is None else t.core.intersect(area)
            if core is None:
                continue
            if mask is not None and not np.any(mask[core.slices] > 0):
                continue
            kept.append(t)
        return TilePlan(
            self.image_height, self.image_width, self.canvas_height, self.canvas_width, self.tile, self.overlap, tuple(kept)
        )


def round_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple`` (>= 1)."""
    return -(-value // multiple) * multiple


def _axis_spans(length: int, canvas: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """``(core0, core1, box0, box1)`` along one axis; cores are clipped to the image ``length``."""
    if tile <= 0 or tile >= canvas:
        return [(0, length, 0, canvas)]
    # Boxes start on a multiple of ``multiple`` so that a strided network (U-Net, pixel
    # unshuffle) sees every tile at the same pixel phase as the whole canvas; rounding the start
    # down can cost up to ``multiple - 1`` pixels, which the box size makes up for.
    box = min(round_up(tile + 2 * overlap + multiple - 1, multiple), canvas)
    spans = []
    for start in range(0, length, tile):
        core1 = min(start + tile, length)
        box0 = min(max((start - overlap) // multiple * multiple, 0), canvas - box)
        spans.append((start, core1, box0, box0 + box))
    return spans


def plan_tiles(height: int, width: int, *, tile: int, overlap: int, size_multiple: int = 1) -> TilePlan:
    """Plan tiles of edge ``tile`` (0: whole image) with at least ``overlap`` pixels of context.

    Cores are ``tile`` x ``tile`` (smaller at the bottom/right edge) and partition the image;
    boxes are ``tile + 2*overlap`` rounded up to ``size_multiple`` (at most the canvas), start on
    a multiple of ``size_multiple`` (same pixel phase as the whole canvas, for strided networks)
    and are shifted inwards at the canvas edges, so they all have the same size.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"cannot tile an empty {width}x{height} image")
    multiple = max(1, size_multiple)
    canvas_h, canvas_w = round_up(height, multiple), round_up(width, multiple)
    rows = _axis_spans(height, canvas_h, tile, overlap, multiple)
    cols = _axis_spans(width, canvas_w, tile, overlap, multiple)
    tiles = []
    for cy0, cy1, by0, by1 in rows:
        for cx0, cx1, bx0, bx1 in cols:
            tiles.append(Tile(len(tiles), Region.from_bounds(cx0, cy0, cx1, cy1), Region.from_bounds(bx0, by0, bx1, by1)))
    single = len(rows) == 1 and len(cols) == 1
    return TilePlan(height, width, canvas_h, canvas_w, 0 if single else tile, overlap, tuple(tiles))


def reflect_indices(start: int, stop: int, length: int) -> np.ndarray:
    """Indices ``start..stop-1`` mapped into ``[0, length)`` by reflection without edge repeat.

    Beyond the image the pattern repeats (``numpy.pad(mode="reflect")`` semantics, so images
    smaller than the padding work); a 1-pixel axis replicates.
    """
    idx = np.arange(start, stop)
    if length == 1:
        return np.zeros_like(idx)
    period = 2 * (length - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= length, period - idx, idx)


def gather(image: np.ndarray, box: Region) -> np.ndarray:
    """Pixels of ``box`` from the (virtually reflect-padded) ``(H, W, C)`` image, as a new array."""
    h, w = image.shape[:2]
    if box.y1 <= h and box.x1 <= w:
        return np.array(image[box.slices])
    rows = reflect_indices(box.y0, box.y1, h)
    cols = reflect_indices(box.x0, box.x1, w)
    return image[rows[:, None], cols[None, :]]
