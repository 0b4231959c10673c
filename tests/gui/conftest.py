"""GUI test fixtures: an isolated registry with tiny plugins, temporary settings, a window,
an image file on disk, and recorders for message boxes (no modal dialog may block a test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from gui.settings import AppSettings  # noqa: E402
from tests.plugin_factory import write_tiny_plugin  # noqa: E402


@pytest.fixture
def plugin_path(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``plugin_dir`` with a tiny conv plugin, set as the only user plugin folder, and a fresh
    process-wide registry (``engine.api._default_registry`` reset)."""
    import engine.api

    write_tiny_plugin(plugin_dir, "tiny", menu="Tiny Denoise")
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(plugin_dir))
    monkeypatch.setattr(engine.api, "_default_registry", None)
    return plugin_dir


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    """Settings in a temporary INI file (never the user's)."""
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@dataclass
class MessageLog:
    """Every QMessageBox.warning/critical/information/question call, answered without blocking."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Discard

    def texts(self, kind: str | None = None) -> list[str]:
        return [text for k, _title, text in self.calls if kind is None or k == kind]


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> MessageLog:
    """Replace the blocking QMessageBox helpers with recorders."""
    log = MessageLog()

    def recorder(kind: str):  # noqa: ANN202
        def record(_parent, title, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            log.calls.append((kind, title, text))
            return log.answer if kind == "question" else QMessageBox.StandardButton.Ok

        return staticmethod(record)

    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind))
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda *a: log.calls.append(("about", a[1], a[2]))))
    return log


@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 48x64 RGB PNG with structure, and its pixels as float32 in [0, 1]."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:48, 0:64]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.float64)
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(noisy).save(path)
    return path, noisy.astype(np.float32) / 255.0


@pytest.fixture
def window(qtbot, settings: AppSettings, plugin_path: Path, messages: MessageLog) -> Iterator:  # noqa: ANN001
    """A shown main window over the tiny plugin; every background job is joined afterwards."""
    from gui.main_window import MainWindow
    from gui.worker import shutdown_all

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(900, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.shutdown()
    shutdown_all()
    if win.document is not None:
        win.document.set_dirty(False)
