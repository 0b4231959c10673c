"""Tile geometry: cores partition the image, boxes give enough context, reflect padding is numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.types import Region
from engine.tiling import gather, plan_tiles, reflect_indices, round_up


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap", "multiple"),
    [(37, 53, 8, 3, 1), (37, 53, 16, 5, 4), (100, 7, 30, 2, 8), (5, 5, 2, 3, 1), (64, 64, 64, 4, 1), (9, 33, 10, 0, 1)],
)
def test_cores_partition_image_and_boxes_cover_context(h: int, w: int, tile: int, overlap: int, multiple: int) -> None:
    plan = plan_tiles(h, w, tile=tile, overlap=overlap, size_multiple=multiple)
    cover = np.zeros((h, w), np.int32)
    sizes = set()
    for t in plan.tiles:
        cover[t.core.y0 : t.core.y1, t.core.x0 : t.core.x1] += 1
        sizes.add((t.box.height, t.box.width))
        assert t.box.height % multiple == 0 and t.box.width % multiple == 0
        assert t.box.y0 % multiple == 0 and t.box.x0 % multiple == 0  # same pixel phase as the canvas
        assert 0 <= t.box.y0 and t.box.y1 <= plan.canvas_height and 0 <= t.box.x0 and t.box.x1 <= plan.canvas_width
        # every core side has >= overlap context inside the box, unless the box touches the canvas edge
        assert t.core.y0 - t.box.y0 >= overlap or t.box.y0 == 0
        assert t.core.x0 - t.box.x0 >= overlap or t.box.x0 == 0
        assert t.box.y1 - t.core.y1 >= overlap or t.box.y1 == plan.canvas_height
        assert t.box.x1 - t.core.x1 >= overlap or t.box.x1 == plan.canvas_width
    assert np.all(cover == 1)
    assert len(sizes) == 1  # equal boxes, so tiles batch
    assert plan.canvas_height == round_up(h, multiple) and plan.canvas_width == round_up(w, multiple)


def test_tile_zero_or_larger_than_image_is_one_whole_tile() -> None:
    for tile in (0, 53, 500):
        plan = plan_tiles(37, 53, tile=tile, overlap=3, size_multiple=8)
        assert plan.tile == 0 and len(plan.tiles) == 1
        assert plan.tiles[0].box == Region.from_bounds(0, 0, 56, 40)
        assert plan.tiles[0].core == Region.from_bounds(0, 0, 53, 37)


def test_tile_counts() -> None:
    assert len(plan_tiles(37, 53, tile=16, overlap=3).tiles) == 3 * 4
    assert len(plan_tiles(32, 32, tile=16, overlap=3).tiles) == 4


@pytest.mark.parametrize("length", [1, 2, 3, 7])
def test_reflect_indices_match_numpy_pad_even_beyond_the_image(length: int) -> None:
    data = np.arange(length)
    padded = np.pad(data, (0, 20), mode="reflect") if length > 1 else np.pad(data, (0, 20), mode="edge")
    assert np.array_equal(data[reflect_indices(0, length + 20, length)], padded)


def test_gather_reads_padded_boxes() -> None:
    img = np.random.default_rng(0).random((5, 6, 3), dtype=np.float32)
    padded = np.pad(img, ((0, 11), (0, 10), (0, 0)), mode="reflect")
    box = Region.from_bounds(1, 2, 16, 16)
    assert np.array_equal(gather(img, box), padded[2:16, 1:16])
    inside = gather(img, Region.from_bounds(1, 1, 3, 3))
    inside[...] = -1  # a copy, never a view
    assert img.min() >= 0


def test_region_is_the_one_rectangle() -> None:
    r = Region.from_bounds(2, 1, 7, 4)
    assert (r.x, r.y, r.width, r.height, r.x0, r.y0, r.x1, r.y1) == (2, 1, 5, 3, 2, 1, 7, 4)
    assert r.slices == (slice(1, 4), slice(2, 7))
    assert r.intersect(Region(5, 0, 10, 2)) == Region(5, 1, 2, 1)
    assert r.intersect(Region(7, 1, 3, 3)) is None  # touching edges do not overlap
    mask = np.zeros((10, 12), np.float32)
    mask[3, 4] = mask[6, 9] = 0.25
    assert Region.bounding(mask) == Region(4, 3, 6, 4)
    assert Region.bounding(mask, threshold=0.5) is None


def test_select_by_area_and_mask() -> None:
    plan = plan_tiles(32, 32, tile=8, overlap=2)
    mask = np.zeros((32, 32), np.float32)
    mask[9:11, 9:11] = 0.5
    assert [t.core for t in plan.select(mask=mask).tiles] == [Region.from_bounds(8, 8, 16, 16)]
    assert len(plan.select(Region.from_bounds(0, 0, 9, 9)).tiles) == 4
    assert len(plan.select(Region.from_bounds(0, 0, 32, 32), np.zeros((32, 32))).tiles) == 0
