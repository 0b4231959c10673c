"""Shared fixtures: tiny images, tiny plugins, an isolated registry, and a thread-leak guard."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded generator, so every test is deterministic."""
    return np.random.default_rng(1234)


@pytest.fixture
def small_rgb(rng: np.random.Generator) -> np.ndarray:
    """A 37x53 RGB float32 image in [0, 1] with structure (gradients + noise): odd sizes on purpose."""
    h, w = 37, 53
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=-1)
    return np.clip(base + 0.1 * rng.standard_normal((h, w, 3)).astype(np.float32), 0, 1).astype(np.float32)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """An empty folder to write tiny plugins into (see tests/plugin_factory.py)."""
    d = tmp_path / "plugins"
    d.mkdir()
    return d


@pytest.fixture(autouse=True)
def _isolated_user_plugins(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the developer's real user plugin folder or settings during tests."""
    empty = tmp_path_factory.mktemp("user-plugins")
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(empty))
    monkeypatch.setenv("CLARITY_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread running (a worker that was never joined)."""
    before = set(threading.enumerate())
    yield
    leaked = []
    for thread in threading.enumerate():
        if thread in before or thread.daemon or not thread.is_alive():
            continue
        thread.join(timeout=5)
        if thread.is_alive():
            leaked.append(thread.name)
    assert not leaked, f"test leaked running threads: {leaked}"
