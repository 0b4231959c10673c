"""bench_batch: both runs process every image and report consistent throughput."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.batch.bench import bench_batch
from engine.core.errors import ClarityError


def test_bench_batch_counts_and_rates(registry: Path, photos: Path, tmp_path: Path) -> None:
    result = bench_batch(photos, "tiny", {"amount": "0.5"}, workers=2)
    assert result.images == 3 and result.workers == 2
    assert result.serial_seconds > 0 and result.overlap_seconds > 0
    assert result.serial_images_per_second == pytest.approx(3 / result.serial_seconds)
    assert result.speedup == pytest.approx(result.serial_seconds / result.overlap_seconds)
    rows = result.table().splitlines()
    assert rows[0].split() == ["filter", "images", "mode", "threads", "seconds", "images/s", "speedup"]
    assert rows[2].split()[:4] == ["tiny", "3", "serial", "0"] and rows[3].split()[:4] == ["tiny", "3", "overlapped", "2"]
    assert rows[3].split()[-1] == f"{result.speedup:.2f}x"
    assert bench_batch(photos, "tiny", limit=1).images == 1
    with pytest.raises(ClarityError, match="no images"):
        bench_batch(tmp_path / "plugins", "tiny")
