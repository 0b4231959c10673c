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


def _confirmation(window, qtbot):  # noqa: ANN001, ANN202
    """The confirmation dialog, once the inspection running on a worker has finished."""
    qtbot.waitUntil(lambda: window.community.dialog is not None, timeout=20_000)
    return window.community.dialog


def _click_import(dialog) -> None:  # noqa: ANN001
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_drop_model_file_confirm_then_filter_appears_and_remove_in_one_click(window, plugin_path: Path, tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    source = tmp_path / "4x-Tiny_Compact.pth"
    torch.save({"params_ema": tiny_state_dict("Compact")}, source)
    assert "tiny-compact" not in window.filter_actions

    _drop(window, source)
    dialog = _confirmation(window, qtbot)
    assert dialog.isVisible()
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
    with qtbot.waitSignal(window.community.changed, timeout=20_000):
        _click_import(dialog)  # the plugin is written on a worker
    assert not dialog.isVisible()
    assert (plugin_path / "tiny-compact" / "weights.safetensors").is_file()
    action = window.filter_actions["tiny-compact"]  # no restart: the menu was rebuilt
    assert action.text() == "Tiny Compact" and action.property("usable") is True

    remove = _action(_manage_menu(window), "remove:tiny-compact")
    assert remove is not None and remove.text() == 'Remove "Tiny Compact"'
    assert _action(_manage_menu(window), "remove:tiny") is None  # hand-written plugins are not offered
    remove.trigger()
    assert not (plugin_path / "tiny-compact").exists() and source.is_file()
    assert "tiny-compact" not in window.filter_actions


def test_menu_import_cancel_writes_nothing(window, plugin_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot) -> None:  # noqa: ANN001
    from safetensors.torch import save_file

    source = tmp_path / "tiny-dncnn.safetensors"
    save_file(tiny_state_dict("DnCNN"), str(source))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(source), "")))
    _action(_manage_menu(window), "import-model").trigger()
    dialog = _confirmation(window, qtbot)
    assert "task: denoise" in dialog.detected.text()
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert sorted(p.name for p in plugin_path.iterdir()) == ["tiny"]


def test_dropped_bad_model_file_is_one_message(window, tmp_path: Path, messages, qtbot) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x80\x02garbage")
    _drop(window, bad)
    qtbot.waitUntil(lambda: not window.community.busy() and bool(messages.texts("warning")), timeout=20_000)
    assert window.community.dialog is None
    (text,) = messages.texts("warning")
    assert text.startswith("broken.pth: ") and "\n" not in text


def _progress_cancel(window) -> None:  # noqa: ANN001
    """Click the Cancel button of the import's progress dialog."""
    from PySide6.QtWidgets import QPushButton

    progress = window.community.progress
    assert progress is not None
    progress.findChild(QPushButton).click()


class HeldInspection:
    """Holds a model inspection open inside its tiling check (the slow part of an import).

    ``entered`` is set once the worker is inside the check (``threads`` records which thread);
    the check proceeds when ``release`` is set.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import threading

        from PySide6.QtCore import QThread

        from engine import model_import

        self.entered, self.release = threading.Event(), threading.Event()
        self.threads: list[QThread] = []
        real = model_import.tiled_error

        def held(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.threads.append(QThread.currentThread())
            self.entered.set()
            self.release.wait(20)
            return real(*args, **kwargs)

        monkeypatch.setattr(model_import, "tiled_error", held)


def _compact_pth(tmp_path: Path) -> Path:
    source = tmp_path / "compact.pth"
    torch.save(tiny_state_dict("Compact"), source)
    return source


def test_import_runs_on_a_worker_the_event_loop_keeps_running(window, plugin_path: Path, tmp_path: Path,  # noqa: ANN001
                                                              monkeypatch: pytest.MonkeyPatch, qtbot) -> None:  # fmt: skip
    from PySide6.QtCore import QTimer

    held = HeldInspection(monkeypatch)
    source = _compact_pth(tmp_path)
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)

    def shows_held_stage() -> bool:
        progress = window.community.progress
        return progress is not None and progress.labelText().startswith("Inspecting compact.pth: checking tiled")

    _drop(window, source)
    try:
        # the GUI thread still serves events, and shows the stage the held worker reached (its
        # progress signal is queued: under load it may arrive after the worker is already held)
        qtbot.waitUntil(lambda: held.entered.is_set() and len(ticks) >= 20 and shows_held_stage(), timeout=20_000)
        assert window.community.busy() and window.community.dialog is None
        assert held.threads[0] is not window.thread()
        before = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) >= before + 10, timeout=5_000)
    finally:
        held.release.set()
        timer.stop()
    dialog = _confirmation(window, qtbot)
    assert "tiling: tiled, context 5 px" in dialog.detected.text()


def test_import_counts_as_running_until_its_end_is_relayed(window, tmp_path: Path, messages, qtbot) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"\x80\x02garbage")
    _drop(window, bad)
    job = window.community.job
    assert job is not None and job.wait(20_000)  # the worker thread has stopped; no event processed yet
    assert window.community.busy() and window.community.progress is not None
    qtbot.waitUntil(lambda: not window.community.busy(), timeout=5_000)
    assert window.community.progress is None and window.community.job is None
    assert len(messages.texts("warning")) == 1


def test_cancel_during_inspection_opens_nothing(window, plugin_path: Path, tmp_path: Path,  # noqa: ANN001
                                                monkeypatch: pytest.MonkeyPatch, qtbot, messages) -> None:  # fmt: skip
    held = HeldInspection(monkeypatch)
    source = _compact_pth(tmp_path)
    _drop(window, source)
    qtbot.waitUntil(held.entered.is_set, timeout=20_000)
    with qtbot.waitSignal(window.community.cancelled, timeout=20_000):
        _progress_cancel(window)
        held.release.set()
    qtbot.waitUntil(lambda: not window.community.busy(), timeout=5_000)
    assert window.community.dialog is None and messages.calls == []
    assert window.community.progress is None
    assert sorted(p.name for p in plugin_path.iterdir()) == ["tiny"]


def test_cancel_while_writing_leaves_no_half_made_plugin_folder(window, plugin_path: Path, tmp_path: Path,  # noqa: ANN001
                                                                monkeypatch: pytest.MonkeyPatch, qtbot, messages) -> None:  # fmt: skip
    import threading

    import safetensors.torch

    source = tmp_path / "compact.safetensors"
    safetensors.torch.save_file(tiny_state_dict("Compact"), str(source))
    _drop(window, source)
    dialog = _confirmation(window, qtbot)
    dialog.id_edit.setText("half-made")

    written, release = threading.Event(), threading.Event()
    real_save = safetensors.torch.save_file

    def held_save(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the weights are on disk, the plugin is not done
        real_save(*args, **kwargs)
        written.set()
        release.wait(20)

    monkeypatch.setattr(safetensors.torch, "save_file", held_save)
    _click_import(dialog)
    qtbot.waitUntil(written.is_set, timeout=20_000)
    staged = [p.name for p in plugin_path.iterdir() if p.name.startswith(".import-half-made")]
    assert len(staged) == 1  # the half-made plugin exists, hidden, while the write is held
    with qtbot.waitSignal(window.community.cancelled, timeout=20_000):
        _progress_cancel(window)
        release.set()
    qtbot.waitUntil(lambda: not window.community.busy(), timeout=5_000)
    assert sorted(p.name for p in plugin_path.iterdir()) == ["tiny"]  # no staging folder, no plugin
    assert "half-made" not in window.filter_actions and messages.calls == []


def test_a_second_import_while_one_runs_is_refused_with_one_message(window, tmp_path: Path,  # noqa: ANN001
                                                                    monkeypatch: pytest.MonkeyPatch, qtbot, messages) -> None:  # fmt: skip
    held = HeldInspection(monkeypatch)
    source = _compact_pth(tmp_path)
    _drop(window, source)
    qtbot.waitUntil(held.entered.is_set, timeout=20_000)
    try:
        assert window.community.import_file(source) is None
        assert messages.texts("warning") == ["another model import is still running; wait for it or cancel it"]
    finally:
        held.release.set()
    _confirmation(window, qtbot)
