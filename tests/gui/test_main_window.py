"""The main window end to end: open, zoom, select, filter through the menu and the dialog,
undo/redo, cancel, preview, errors as messages, runtime plugins, save/close."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox

from gui.filter_dialog import FilterDialog
from gui.main_window import MainWindow
from gui.selection import Selection
from tests.plugin_factory import write_tiny_plugin


def _open(window: MainWindow, photo: tuple[Path, np.ndarray]) -> np.ndarray:
    path, pixels = photo
    assert window.open_file(path)
    assert window.document is not None
    np.testing.assert_array_equal(window.document.pixels, pixels)
    return pixels


def _filter_dialog_via_menu(qtbot, window: MainWindow, plugin_id: str) -> FilterDialog:  # noqa: ANN001
    action = window.filter_actions[plugin_id]
    assert action.isEnabled()
    action.trigger()
    dialog = window.filter_dialog
    assert dialog is not None and dialog.isVisible() and dialog.manifest.id == plugin_id
    return dialog


def _apply(qtbot, dialog: FilterDialog) -> None:  # noqa: ANN001
    with qtbot.waitSignal(dialog.applied, timeout=20000):
        qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)


def test_open_sets_title_status_and_recent(window: MainWindow, photo, settings) -> None:  # noqa: ANN001
    _open(window, photo)
    assert window.windowTitle().startswith("photo.png[*]")
    assert not window.isWindowModified()
    assert "64 x 48 px, 8-bit" in window.size_label.text()
    assert settings.recent_files() == [photo[0].resolve()]


def test_zoom_actions_and_anchor(window: MainWindow, photo) -> None:  # noqa: ANN001
    _open(window, photo)
    canvas = window.canvas
    window.actual_action.trigger()
    assert canvas.zoom == 1.0
    window.zoom_in_action.trigger()
    assert canvas.zoom == pytest.approx(1.5)  # the usual stops: ..., 50, 66.7, 100, 150, 200, ...
    window.zoom_in_action.trigger()
    assert canvas.zoom == pytest.approx(2.0)
    for _ in range(3):
        window.zoom_out_action.trigger()
    assert canvas.zoom == pytest.approx(2 / 3)
    assert "Zoom 66.7%" in window.zoom_label.text()
    window.zoom_out_action.trigger()
    assert canvas.zoom == pytest.approx(0.5)
    canvas.set_zoom(8.0)
    anchor = canvas.image_to_view(canvas.view_to_image(canvas.viewport().rect().center()))
    fixed = canvas.view_to_image(anchor)
    canvas.set_zoom(12.0, anchor)
    after = canvas.view_to_image(anchor)
    assert (after.x(), after.y()) == pytest.approx((fixed.x(), fixed.y()), abs=0.2)  # zoom keeps the point under the cursor
    window.fit_action.trigger()
    assert canvas.zoom == pytest.approx(1.0)  # a 64x48 image fits at 100 %, never enlarged by Fit
    assert "Zoom 100%" in window.zoom_label.text()


def test_filter_on_mouse_selection_changes_only_inside_then_undo_redo(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    original = _open(window, photo)
    canvas = window.canvas
    canvas.set_zoom(4.0)
    # drag a rectangle from image (8, 6) to (30, 20) with the rectangle tool
    start = canvas.image_to_view(_pt(8, 6)).toPoint()
    end = canvas.image_to_view(_pt(30, 20)).toPoint()
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas.viewport(), pos=end)
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert window.selection is not None
    mask = window.selection_mask()
    assert mask is not None
    inside = mask > 0
    assert inside.sum() == pytest.approx(22 * 14, abs=2 * (22 + 14))  # mouse positions are rounded to view pixels

    dialog = _filter_dialog_via_menu(qtbot, window, "tiny")
    assert "selection only" in dialog.note.text()
    _apply(qtbot, dialog)
    after = window.document.pixels
    np.testing.assert_array_equal(after[~inside], original[~inside])  # outside: bit-identical
    assert np.abs(after[mask == 1] - original[mask == 1]).mean() > 0.01  # inside: filtered
    assert window.isWindowModified() and window.windowTitle().startswith("photo.png")
    assert "Tiny Denoise:" in window.time_label.text() and "Device: cpu" in window.device_label.text()

    window.undo_action.trigger()
    np.testing.assert_array_equal(window.document.pixels, original)
    assert not window.isWindowModified()
    window.redo_action.trigger()
    np.testing.assert_array_equal(window.document.pixels, after)
    assert window.undo_stack.count() == 1


def test_repeated_filters_keep_no_dialog_or_image_copy_alive(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    """Issue 8: memory must not grow over many applications. Closed dialogs drop the image at
    once and are deleted; the history forgets its oldest steps at the step limit."""
    import gc

    original = _open(window, photo)
    window.undo_stack.max_steps = 3
    step_bytes = original.nbytes  # the tiny filter changes every pixel: one full copy per step
    dialogs: list[FilterDialog] = []
    for run in range(6):
        dialog = _filter_dialog_via_menu(qtbot, window, "tiny")
        _apply(qtbot, dialog)
        assert window.filter_dialog is None and dialog.images_released
        assert window.undo_action.text() == "&Undo Tiny Denoise"
        assert window.undo_stack.count() == min(run + 1, 3)
        assert window.undo_stack.stored_bytes() == min(run + 1, 3) * step_bytes
        dialogs.append(dialog)
    del dialog, dialogs
    qtbot.wait(50)  # the event loop runs the deferred deletes
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is FilterDialog]
    for _ in range(3):
        window.undo_action.trigger()
    assert not window.undo_action.isEnabled() and window.redo_action.text() == "&Redo Tiny Denoise"
    assert not np.array_equal(window.document.pixels, original)  # the first 3 steps were forgotten


def test_preferences_change_undo_limits_at_once(qtbot, window: MainWindow, photo, settings) -> None:  # noqa: ANN001
    _open(window, photo)
    for _ in range(4):
        _apply(qtbot, _filter_dialog_via_menu(qtbot, window, "tiny"))
    assert window.undo_stack.count() == 4
    dialog = window.open_preferences()
    assert (dialog.steps.value(), dialog.memory.value()) == (30, 1024)
    dialog.steps.setValue(2)
    dialog.memory.setValue(10**9)  # clamped by the spin box
    qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert (settings.undo_steps(), settings.undo_memory_mib()) == (2, 1024 * 1024)
    assert window.undo_stack.count() == 2 and window.undo_stack.max_steps == 2
    settings.store.setValue("history/steps", "lots")  # a garbled value falls back to the default
    assert settings.undo_steps() == 30


def _pt(x: float, y: float):  # noqa: ANN202
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_whole_image_filter_matches_engine(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    import engine.api

    original = _open(window, photo)
    dialog = _filter_dialog_via_menu(qtbot, window, "tiny")
    dialog.form.set_value("amount", 0.5)
    dialog.options_form.strength.setValue(60)
    _apply(qtbot, dialog)
    from engine.core.types import RunOptions

    expected = engine.api.apply_filter(original, "tiny", {"amount": 0.5}, options=RunOptions(strength=0.6)).image
    np.testing.assert_allclose(window.document.pixels, expected, atol=1e-6)
    assert not np.allclose(expected, original, atol=1e-3)


def test_preview_updates_after_parameter_change(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    original = _open(window, photo)
    dialog = _filter_dialog_via_menu(qtbot, window, "tiny")
    with qtbot.waitSignal(dialog.preview_ready, timeout=10000):
        pass
    first = dialog.preview_result.copy()
    assert window.device_label.text() == "Device: cpu"  # the first preview tells which device "auto" picked
    crop = dialog.crop
    assert first.shape == (crop.height(), crop.width(), 3)
    with qtbot.waitSignal(dialog.preview_ready, timeout=10000):
        dialog.form.set_value("amount", 0.0)  # amount 0: the network adds nothing
    np.testing.assert_allclose(dialog.preview_result, original[crop.y() : crop.y() + crop.height(), crop.x() : crop.x() + crop.width()], atol=1e-6)
    assert not np.allclose(first, dialog.preview_result)
    np.testing.assert_array_equal(window.document.pixels, original)  # previews never touch the image
    dialog.reject()


def test_cancel_long_run_keeps_ui_alive_and_image_unchanged(qtbot, window: MainWindow, photo, plugin_path: Path) -> None:  # noqa: ANN001
    write_tiny_plugin(plugin_path, "slow", sleep=0.2, menu="Slow Denoise")
    window.reload_plugins_action.trigger()
    original = _open(window, photo)
    dialog = _filter_dialog_via_menu(qtbot, window, "slow")
    dialog._debounce.stop()  # noqa: SLF001 - no preview run in this test
    dialog.options_form.tile.setValue(16)  # 64x48 -> 12 tiles of 0.2 s
    dialog._debounce.stop()  # noqa: SLF001
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(25)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    cancelled: list[bool] = []
    dialog.apply_button.click()
    assert dialog.running
    qtbot.waitUntil(lambda: dialog.progress.maximum() > 1 and dialog.progress.value() >= 1, timeout=10000)
    t0 = time.monotonic()
    qtbot.wait(300)
    assert len([t for t in ticks if t >= t0]) >= 3  # the event loop kept running during the run (12 ideal)
    dialog._apply_job.cancelled.connect(lambda: cancelled.append(True))  # noqa: SLF001
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=10000)
    timer.stop()
    assert cancelled == [True]
    assert dialog.isVisible()  # cancel of a run keeps the dialog open
    assert dialog.progress.value() < dialog.progress.maximum() or not dialog.progress.isVisible()
    np.testing.assert_array_equal(window.document.pixels, original)
    assert window.undo_stack.count() == 0
    dialog.reject()


def test_engine_failure_is_a_message_and_image_unchanged(qtbot, window: MainWindow, photo, messages, monkeypatch) -> None:  # noqa: ANN001
    import engine.api

    original = _open(window, photo)

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("tensor exploded")

    dialog = _filter_dialog_via_menu(qtbot, window, "tiny")
    dialog._debounce.stop()  # noqa: SLF001
    monkeypatch.setattr(engine.api, "apply_filter", broken)
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10000)
    warnings = messages.texts("warning")
    assert len(warnings) == 1 and "internal error: RuntimeError: tensor exploded" in warnings[0]
    assert "The image was not changed" in warnings[0]
    np.testing.assert_array_equal(window.document.pixels, original)
    assert dialog.isVisible()
    dialog.reject()


def test_unreadable_file_is_a_message(window: MainWindow, tmp_path: Path, messages) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    assert not window.open_file(bad)
    assert window.document is None
    assert len(messages.texts("warning")) == 1 and "broken.png" in messages.texts("warning")[0]


def test_plugin_added_at_runtime_appears_after_reload(window: MainWindow, plugin_path: Path) -> None:
    assert "late" not in window.filter_actions
    write_tiny_plugin(plugin_path, "late", menu="Late Arrival", task="derain")
    write_tiny_plugin(plugin_path, "broken", sha256="0" * 64)
    window.reload_plugins_action.trigger()
    assert window.filter_actions["late"].text() == "Late Arrival"
    derain = [a.menu() for a in window.filter_menu.actions() if a.menu() is not None and a.text() == "Derain"]
    assert derain and "Late Arrival" in [a.text() for a in derain[0].actions()]
    broken = window.filter_actions["broken"]
    assert not broken.isEnabled() and "hash" in broken.toolTip().lower()


def test_rebuilding_the_filter_menu_leaves_one_submenu_per_task(window: MainWindow, plugin_path: Path) -> None:
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QMenu

    write_tiny_plugin(plugin_path, "late", menu="Late Arrival", task="derain")
    for _ in range(5):  # reload, import and remove all rebuild the menu
        window.reload_plugins_action.trigger()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    children = window.filter_menu.findChildren(QMenu, options=Qt.FindChildOption.FindDirectChildrenOnly)
    shown = [a.menu().title() for a in window.filter_menu.actions() if a.menu() is not None]
    assert {"Denoise", "Derain", "Manage plugins"} <= set(shown) and len(set(shown)) == len(shown)
    assert sorted(m.title() for m in children) == sorted(shown)  # nothing left over from the 5 rebuilds


def test_super_resolution_of_selection_makes_upscaled_crop(qtbot, window: MainWindow, photo, plugin_path: Path) -> None:  # noqa: ANN001
    write_tiny_plugin(plugin_path, "sr2", kind="sr", scale=2, task="super-resolution", menu="Upscale x2")
    window.reload_plugins_action.trigger()
    original = _open(window, photo)
    window.set_selection(Selection.rectangle(4, 6, 20, 10))
    dialog = _filter_dialog_via_menu(qtbot, window, "sr2")
    assert "bounding box" in dialog.note.text()
    _apply(qtbot, dialog)
    assert (window.document.width, window.document.height) == (40, 20)
    assert window.selection is None
    assert "40 x 20 px" in window.size_label.text()
    window.undo_action.trigger()
    np.testing.assert_array_equal(window.document.pixels, original)


def test_scale_2_filter_of_another_task_crops_alpha_to_the_selection(qtbot, window: MainWindow, plugin_path: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """Regression (issue 17): the app cropped the alpha only for super-resolution plugins."""
    from engine.imageio.document import resize_alpha
    from engine.io import ImageDocument, write_image

    write_tiny_plugin(plugin_path, "x2other", kind="sr", scale=2, task="other", menu="Other x2")
    window.reload_plugins_action.trigger()
    rng = np.random.default_rng(5)
    px = rng.random((30, 40, 3), dtype=np.float32)
    alpha = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))  # a horizontal ramp
    src = write_image(tmp_path / "ramp.png", ImageDocument(px, alpha, 16, None, None, "PNG"))
    assert window.open_file(src)
    loaded = window.document.alpha.copy()
    window.set_selection(Selection.rectangle(4, 6, 20, 10))
    _apply(qtbot, _filter_dialog_via_menu(qtbot, window, "x2other"))
    assert (window.document.width, window.document.height) == (40, 20)
    np.testing.assert_array_equal(window.document.alpha, resize_alpha(loaded[6:16, 4:24], 40, 20))


def test_scale_2_filter_of_another_task_previews_the_selection_box_upscaled(qtbot, window: MainWindow, photo,  # noqa: ANN001
                                                                             plugin_path: Path) -> None:  # fmt: skip
    """Regression: the preview tested ``task is SUPER_RESOLUTION``, so a scale-2 "other" plugin
    previewed the whole crop with the mask and got back only the box, stretched over the crop."""
    import engine.api

    write_tiny_plugin(plugin_path, "x2other", kind="sr", scale=2, task="other", menu="Other x2")
    window.reload_plugins_action.trigger()
    _open(window, photo)
    window.set_selection(Selection.rectangle(4, 6, 20, 10))
    dialog = _filter_dialog_via_menu(qtbot, window, "x2other")
    assert (dialog.crop.x(), dialog.crop.y(), dialog.crop.width(), dialog.crop.height()) == (4, 6, 20, 10)
    assert "bounding box" in dialog.note.text()
    qtbot.waitUntil(lambda: dialog.preview_result is not None, timeout=30_000)
    expected = engine.api.apply_filter(np.ascontiguousarray(window.document.pixels[6:16, 4:24]), "x2other").image
    assert dialog.preview_result.shape == (20, 40, 3)
    np.testing.assert_allclose(dialog.preview_result, expected, atol=1e-6)
    dialog.reject()


def test_unsaved_changes_prompt_and_save(qtbot, window: MainWindow, photo, messages, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    _open(window, photo)
    dialog = _filter_dialog_via_menu(qtbot, window, "tiny")
    _apply(qtbot, dialog)
    messages.answer = QMessageBox.StandardButton.Cancel
    assert not window.close_document()  # Cancel keeps the image open
    assert window.document is not None and len(messages.texts("question")) == 1
    out = tmp_path / "saved.png"
    assert window.save_to(out)
    assert not window.isWindowModified() and window.windowTitle().startswith("saved.png")
    saved = np.asarray(Image.open(out), np.float32) / 255.0
    np.testing.assert_allclose(saved, window.document.pixels, atol=0.5 / 255 + 1e-6)
    assert window.close_document() and window.document is None
    assert len(messages.texts("question")) == 1  # nothing unsaved: no second prompt


def test_drop_a_file_opens_it(window: MainWindow, photo) -> None:  # noqa: ANN001
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo[0]))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.document is not None and window.document.path == photo[0]


def test_select_all_none_invert(window: MainWindow, photo) -> None:  # noqa: ANN001
    _open(window, photo)
    window.select_all_action.trigger()
    assert window.selection_mask().sum() == 64 * 48
    window.set_selection(Selection.rectangle(0, 0, 16, 48))
    window.invert_action.trigger()
    mask = window.selection_mask()
    assert mask[:, :16].sum() == 0 and mask[:, 16:].min() == 1.0
    window.feather_spin.setValue(3.0)  # feathering the current selection softens its edge
    soft = window.selection_mask()
    assert 0.0 < soft[20, 15] < 0.5 < soft[20, 17] < 1.0 and soft[20, 40] == pytest.approx(1.0)
    window.set_selection(Selection.rectangle(0, 0, 8, 8, feather=1.5))
    assert window.feather_spin.value() == 1.5
    window.select_none_action.trigger()
    assert window.selection is None and window.selection_mask() is None


def test_compare_and_hold_backslash(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    _open(window, photo)
    window.compare_action.trigger()
    assert window.canvas.compare
    window.canvas.setFocus()
    qtbot.keyPress(window.canvas, Qt.Key.Key_Backslash)
    assert window.canvas.showing_original
    qtbot.keyRelease(window.canvas, Qt.Key.Key_Backslash)
    assert not window.canvas.showing_original
    image = window.canvas.viewport().grab().toImage()
    assert image.width() > 0


def test_16_bit_alpha_roundtrip_keeps_depth_alpha_and_outside_pixels(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    from engine.io import ImageDocument, read_image, write_image

    rng = np.random.default_rng(11)
    px = (rng.integers(0, 65536, (40, 56, 3)) / 65535).astype(np.float32)
    alpha = np.linspace(0, 1, 40 * 56, dtype=np.float32).reshape(40, 56)
    alpha = (np.rint(alpha * 65535) / 65535).astype(np.float32)
    src = write_image(tmp_path / "deep.png", ImageDocument(px, alpha, 16, None, None, "PNG"))
    assert window.open_file(src)
    original = window.document.pixels.copy()
    assert "56 x 40 px, 16-bit + alpha" in window.size_label.text()
    window.set_selection(Selection.rectangle(10, 10, 20, 12))
    _apply(qtbot, _filter_dialog_via_menu(qtbot, window, "tiny"))
    out = tmp_path / "deep-out.png"
    assert window.save_to(out)
    assert "16-bit PNG" in window.statusBar().currentMessage()
    back = read_image(out)
    assert back.bit_depth == 16
    np.testing.assert_array_equal(back.alpha, window.document.alpha)
    mask = np.zeros((40, 56), bool)
    mask[10:22, 10:30] = True
    np.testing.assert_array_equal(back.pixels[~mask], original[~mask])
    assert np.abs(back.pixels[mask] - original[mask]).mean() > 0.01
    assert src.read_bytes() != out.read_bytes()  # the source file is untouched


def test_pan_with_hand_tool_space_drag_and_wheel_zoom(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    from gui.selection import SelectionTool

    _open(window, photo)
    canvas, vp = window.canvas, window.canvas.viewport()
    canvas.set_zoom(20.0)  # 1280x960 content in a smaller view: scrollable
    h0, v0 = canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()
    window.tool_actions[SelectionTool.HAND].trigger()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(vp, pos=QPoint(150, 170))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=QPoint(150, 170))
    assert (canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()) == (h0 + 50, v0 + 30)
    assert window.selection is None  # the hand tool never selects
    window.tool_actions[SelectionTool.RECTANGLE].trigger()
    canvas.setFocus()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(vp, pos=QPoint(210, 220))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=QPoint(210, 220))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert (canvas.horizontalScrollBar().value(), canvas.verticalScrollBar().value()) == (h0 + 40, v0 + 10)
    assert window.selection is None
    cursor = QPointF(120, 90)
    under = canvas.view_to_image(cursor)
    wheel = QWheelEvent(cursor, vp.mapToGlobal(cursor), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    canvas.wheelEvent(wheel)
    assert canvas.zoom == pytest.approx(20.0 * 2 ** 0.25)
    after = canvas.view_to_image(cursor)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()), abs=0.05)


def test_plugin_that_fails_to_load_gives_its_reason(qtbot, window: MainWindow, photo, messages, plugin_path: Path) -> None:  # noqa: ANN001
    folder = write_tiny_plugin(plugin_path, "fragile", menu="Fragile")
    (folder / "model.py").write_text("raise ImportError('this plugin needs the package foo-bar; pip install foo-bar')\n")
    window.reload_plugins_action.trigger()
    original = _open(window, photo)
    dialog = _filter_dialog_via_menu(qtbot, window, "fragile")
    dialog._debounce.stop()  # noqa: SLF001
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10000)
    warnings = messages.texts("warning")
    assert len(warnings) == 1
    assert "fragile" in warnings[0] and "pip install foo-bar" in warnings[0]
    assert "internal error" not in warnings[0]  # a plugin problem is a ClarityError with its own text
    np.testing.assert_array_equal(window.document.pixels, original)
    action = window.filter_actions["fragile"]  # the menu now shows it disabled with the reason
    assert not action.isEnabled() and "pip install foo-bar" in action.toolTip()
    dialog.reject()
