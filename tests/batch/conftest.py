"""Fixtures for the batch tests: an isolated registry with tiny plugins and tiny photo folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import engine.api
from tests.plugin_factory import write_tiny_plugin


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Write an 8-bit RGB PNG with Pillow (independent of engine.io)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8), "RGB").save(path)
    return path


def photo(seed: int, h: int = 20, w: int = 28) -> np.ndarray:
    """A small structured RGB float image (gradient + seeded noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=-1)
    return np.clip(base + 0.08 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


def list_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (relative, sorted), hidden ones included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def temp_files(folder: Path) -> list[str]:
    """Leftover temporary files (engine.core.atomic's ``.~name.*`` or ours)."""
    return [f for f in list_files(folder) if Path(f).name.startswith(".") or "clarity-tmp" in f]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny plugins 'tiny' (conv) and 'tiny2' (other seed) on CLARITY_PLUGIN_PATH; fresh registry."""
    folder = tmp_path / "plugins"
    write_tiny_plugin(folder, "tiny")
    write_tiny_plugin(folder, "tiny2", seed=1)
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(folder))
    monkeypatch.setattr(engine.api, "_default_registry", None)
    return folder


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """``in/`` with three PNG photos, one in a sub-folder."""
    root = tmp_path / "in"
    write_png(root / "a.png", photo(1))
    write_png(root / "b.png", photo(2))
    write_png(root / "sub" / "c.png", photo(3))
    return root


def age(path: Path, seconds: float = 100.0) -> None:
    """Move a file's mtime into the past (so a rewrite is detectable on coarse clocks)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))
