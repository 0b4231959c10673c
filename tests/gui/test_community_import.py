"""Filter > Manage plugins and model-file drops: import a community model, see it, remove it (pytest-qt)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QMenu

from tests.community.tiny_models import tiny_state_dict


def _drop(window, path: Path) -> None:  # noqa: ANN001
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)  # fmt: skip
    window.dropEvent(event)


def _manage_menu(window) -> QMenu:  # noqa: ANN001
    menu = window.community.menu
    assert menu is not None and menu.menuAction() in window.filter_menu.actions()
    return menu


def _action(menu: QMenu, name: str) -> QAction | None:
    return next((a for a in menu.actions() if a.objectName() == name), None)


def _click_import(dialog) -> None:  # noqa: ANN001
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_drop_model_file_confirm_then_filter_appears_and_remove_in_one_click(window, plugin_path: Path, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    source = tmp_path / "4x-Tiny_Compact.pth"
    torch.save({"params_ema": tiny_state_dict("Compact")}, source)
    assert "tiny-compact" not in window.filter_actions

    _drop(window, source)
    dialog = window.community.dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.detected.text()
    assert "architecture: RealESRGAN Compact" in text and "task: super-resolution; scale x4" in text
    assert "tiling: tiled, context 5 px" in text
    assert dialog.id_edit.text() == "4x-tiny-compact"

    dialog.id_edit.setText("tiny")  # the tiny test plugin already has this id
    _click_import(dialog)
    assert dialog.isVisible() and "already exists" in dialog.error_label.text()
    assert not (plugin_path / "4x-tiny-compact").exists()

    dialog.id_edit.setText("tiny-compact")
    dialog.name_edit.setText("Tiny Compact")
    _click_import(dialog)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert (plugin_path / "tiny-compact" / "weights.safetensors").is_file()
    action = window.filter_actions["tiny-compact"]  # no restart: the menu was rebuilt
    assert action.text() == "Tiny Compact" and action.property("usable") is True

    remove = _action(_manage_menu(window), "remove:tiny-compact")
    assert remove is not None and remove.text() == 'Remove "Tiny Compact"'
    assert _action(_manage_menu(window), "remove:tiny") is None  # hand-written plugins are not offered
    remove.trigger()
    assert not (plugin_path / "tiny-compact").exists() and source.is_file()
    assert "tiny-compact" not in window.filter_actions


def test_menu_import_cancel_writes_nothing(window, plugin_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from safetensors.torch import save_file

    source = tmp_path / "tiny-dncnn.safetensors"
    save_file(tiny_state_dict("DnCNN"), str(source))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(source), "")))
    _action(_manage_menu(window), "import-model").trigger()
    dialog = window.community.dialog
    assert "task: denoise" in dialog.detected.text()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert sorted(p.name for p in plugin_path.iterdir()) == ["tiny"]


def test_dropped_bad_model_file_is_one_message(window, tmp_path: Path, messages) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x80\x02garbage")
    _drop(window, bad)
    assert window.community.dialog is None
    (text,) = messages.texts("warning")
    assert text.startswith("broken.pth: ") and "\n" not in text
