"""Edit > Preferences > CPU backend: stored in the settings and handed to the engine."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from engine.backends import default_backend, set_default_backend
from engine.core.types import Backend


def test_cpu_backend_preference_reaches_the_engine(qtbot, window, settings) -> None:  # noqa: ANN001
    try:
        assert settings.cpu_backend() == "auto" and default_backend() is Backend.AUTO
        dialog = window.open_preferences()
        assert dialog.backend.currentData() == "auto"
        dialog.backend.setCurrentIndex(dialog.backend.findData("onnx"))
        qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        assert settings.cpu_backend() == "onnx" and default_backend() is Backend.ONNX
        settings.set_cpu_backend("torch")
        window._apply_preferences()  # what a new window does at start-up
        assert default_backend() is Backend.TORCH
        settings.store.setValue("engine/backend", "gpu-magic")  # garbled: back to auto
        assert settings.cpu_backend() == "auto"
    finally:
        set_default_backend(Backend.AUTO)
