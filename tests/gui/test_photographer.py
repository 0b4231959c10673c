"""Issue 16: the app as a photographer meets it (preview region, save types, compare, devices,
batch dialog state, no-filter banner, keyboard focus, and the basics of a photo editor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from gui.filter_dialog import PREVIEW_MAX, FilterDialog
from gui.main_window import MainWindow
from gui.selection import Selection


def _big_photo(tmp_path: Path, size: int = 512) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=-1).astype(np.float64)
    noisy = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(noisy).save(path)
    return path, noisy.astype(np.float32) / 255.0


def _open_dialog(window: MainWindow, plugin_id: str = "tiny") -> FilterDialog:
    window.filter_actions[plugin_id].trigger()
    dialog = window.filter_dialog
    assert dialog is not None
    return dialog


# -- item 1: the preview shows what Apply will do ------------------------------------------------
def test_preview_centres_on_selection_and_leaves_unselected_pixels(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    path, original = _big_photo(tmp_path)
    assert window.open_file(path)
    window.set_selection(Selection.rectangle(0, 0, 40, 40))
    mask = window.selection_mask()
    dialog = _open_dialog(window)
    crop = dialog.crop
    assert (crop.x(), crop.y(), crop.width(), crop.height()) == (0, 0, PREVIEW_MAX, PREVIEW_MAX)  # clamped at the corner
    with qtbot.waitSignal(dialog.preview_ready, timeout=60000):
        pass
    preview = dialog.preview_result
    before = original[:PREVIEW_MAX, :PREVIEW_MAX]
    inside = mask[:PREVIEW_MAX, :PREVIEW_MAX] > 0
    changed = np.any(preview != before, axis=-1)
    assert changed[~inside].sum() == 0  # unselected pixels stay unfiltered in the preview
    assert changed[inside].mean() > 0.9
    assert "outside the selection stay unfiltered" in dialog.preview_note.text()
    assert dialog.preview_status.text().startswith("Preview:")  # timing has its own line; the note stays

    # Apply changes exactly the pixels the preview changed
    with qtbot.waitSignal(dialog.applied, timeout=60000):
        dialog.start_apply()
    after = window.document.pixels
    np.testing.assert_array_equal(np.any(after != original, axis=-1)[:PREVIEW_MAX, :PREVIEW_MAX], changed)
    np.testing.assert_allclose(after[:PREVIEW_MAX, :PREVIEW_MAX], preview, atol=1e-5)


def test_preview_pans_and_zooms_and_says_when_the_area_has_no_selection(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    path, original = _big_photo(tmp_path)
    assert window.open_file(path)
    window.set_selection(Selection.rectangle(0, 0, 40, 40))
    dialog = _open_dialog(window)
    with qtbot.waitSignal(dialog.preview_ready, timeout=60000):
        pass
    view = dialog.preview_view
    qtbot.waitExposed(dialog)
    factor = view.image_pixels_per_screen_pixel()
    start = view.rect().center()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, pos=start - QPoint(100, 0))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start - QPoint(100, 0))
    assert dialog.crop.x() == min(512 - PREVIEW_MAX, round(100 * factor))  # dragging left moves the area right
    dialog.pan_preview(512, 512)  # to the far corner: no selected pixel there
    assert (dialog.crop.x(), dialog.crop.y()) == (512 - PREVIEW_MAX, 512 - PREVIEW_MAX)
    qtbot.waitUntil(lambda: "outside the preview area" in dialog.preview_note.text(), timeout=30000)
    assert "nothing here changes" in dialog.preview_note.text()
    np.testing.assert_array_equal(dialog.shown_preview(), original[128:, 128:])
    view.zoom_in()
    assert view.zoom == 2.0 and dialog.crop.width() == PREVIEW_MAX // 2
    centre = dialog.crop.center()
    assert (centre.x(), centre.y()) == pytest.approx((320, 320), abs=2)  # zoom keeps the centre


def test_preview_before_after_toggle(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    path, original = photo
    assert window.open_file(path)
    dialog = _open_dialog(window)
    with qtbot.waitSignal(dialog.preview_ready, timeout=60000):
        pass
    assert not np.array_equal(dialog.shown_preview(), original)
    dialog.show_before.setChecked(True)
    np.testing.assert_array_equal(dialog.shown_preview(), original)


# -- item 2: Save As follows the chosen type; Export has options; 16 -> 8 bits asks first ---------
def test_path_with_type_appends_or_replaces_the_extension() -> None:
    from gui.save_export import FILE_TYPES, path_with_type, type_for_filter

    png, jpeg = FILE_TYPES[0], FILE_TYPES[1]
    assert path_with_type("/x/out1", png) == Path("/x/out1.png")
    assert path_with_type("/x/out1.jpg", png) == Path("/x/out1.png")  # name and type agree
    assert path_with_type("/x/a.b", jpeg) == Path("/x/a.b.jpg")  # a dot in the name is not an image type
    assert path_with_type("/x/out.JPEG", jpeg) == Path("/x/out.JPEG")
    assert type_for_filter("PNG (*.png)") is png


def test_save_file_dialog_renames_extension_with_the_type(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from gui.save_export import FILE_TYPES, SaveFileDialog

    png, jpeg = FILE_TYPES[0], FILE_TYPES[1]
    dialog = SaveFileDialog(None, "Save", tmp_path / "holiday.jpg", jpeg)
    qtbot.addWidget(dialog)
    assert dialog.file_name == "holiday.jpg" and dialog.selectedNameFilter() == jpeg.name_filter
    dialog.selectNameFilter(png.name_filter)
    dialog.filterSelected.emit(png.name_filter)
    assert dialog.file_name == "holiday.png"


def test_save_as_bare_name_with_png_type_writes_png(qtbot, window: MainWindow, photo, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QDialog

    from gui import save_export

    path, original = photo
    assert window.open_file(path)
    png = save_export.FILE_TYPES[0]

    def exec_typing_out1(self) -> int:  # noqa: ANN001 - the user picks PNG and types "out1"
        assert self.file_name == "photo.png"  # pre-filled name agrees with the pre-selected type
        self.setDirectory(str(tmp_path))
        self.selectNameFilter(png.name_filter)
        self.selectFile("out1")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(save_export.SaveFileDialog, "exec", exec_typing_out1)
    assert window.save_as()
    out = tmp_path / "out1.png"
    assert out.exists() and window.document.path == out
    assert Image.open(out).format == "PNG"
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.rint(original * 255).astype(np.uint8))


def test_export_asks_before_16_bit_goes_to_jpeg_and_keeps_the_document(qtbot, window: MainWindow, messages, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    from gui import save_export

    src = tmp_path / "deep.png"
    data = (np.arange(16 * 24 * 3, dtype=np.uint32).reshape(16, 24, 3) * 37 % 65536).astype(np.uint16)
    from engine.imageio.png16 import encode_png16

    src.write_bytes(encode_png16(data))
    assert window.open_file(src) and window.document.image.bit_depth == 16
    jpeg = save_export.FILE_TYPES[1]
    target = tmp_path / "copy.jpg"
    monkeypatch.setattr(save_export, "ask_save_path", lambda *a: (target, jpeg))
    monkeypatch.setattr(save_export, "ask_export_options", lambda *a: save_export.ExportOptions("JPEG", 8, 80))
    messages.answer = QMessageBox.StandardButton.Cancel
    assert not window.export()
    assert not target.exists()
    assert "16 bits per channel" in messages.texts("question")[-1] and "only 8" in messages.texts("question")[-1]
    messages.answer = QMessageBox.StandardButton.Save
    assert window.export()
    assert Image.open(target).format == "JPEG"
    assert window.document.path == src  # Export leaves the document's own file alone


def test_export_options_dialog(qtbot) -> None:  # noqa: ANN001
    from gui.save_export import FILE_TYPES, ExportOptionsDialog

    png, webp = FILE_TYPES[0], FILE_TYPES[3]
    d = ExportOptionsDialog(png, 16)
    qtbot.addWidget(d)
    assert d.options().bit_depth == 16  # 16-bit data stays 16-bit by default
    d.bits.setCurrentIndex(d.bits.findData(8))
    assert d.options().bit_depth == 8
    w = ExportOptionsDialog(webp, 8)
    qtbot.addWidget(w)
    w.quality.setValue(100)
    assert w.options().quality == 99  # lossy stays lossy
    w.lossless.setChecked(True)
    assert w.options().quality == 100 and not w.quality.isEnabled()


# -- item 3: compare after super-resolution of a selection shows the same region -----------------
def test_compare_after_selection_upscale_shows_the_same_region(qtbot, window: MainWindow, photo, plugin_path: Path) -> None:  # noqa: ANN001
    from tests.plugin_factory import write_tiny_plugin

    write_tiny_plugin(plugin_path, "sr2", kind="sr", scale=2, task="super-resolution", menu="Upscale x2")
    window.reload_plugins_action.trigger()
    path, original = photo
    assert window.open_file(path)
    window.set_selection(Selection.rectangle(4, 6, 20, 10))
    dialog = _open_dialog(window, "sr2")
    with qtbot.waitSignal(dialog.applied, timeout=60000):
        dialog.start_apply()
    assert (window.document.width, window.document.height) == (40, 20)
    np.testing.assert_array_equal(window.canvas.original_pixels, original[6:16, 4:24])  # like against like
    window.undo_action.trigger()
    np.testing.assert_array_equal(window.canvas.original_pixels, original)
    window.redo_action.trigger()
    np.testing.assert_array_equal(window.canvas.original_pixels, original[6:16, 4:24])


# -- item 4: only available devices; errors in GUI words, wrapped ---------------------------------
def test_device_choice_lists_only_available_devices_and_errors_use_gui_words(qtbot, window: MainWindow, photo, monkeypatch) -> None:  # noqa: ANN001
    import torch

    import engine.api
    from engine.core.errors import DeviceError

    assert window.open_file(photo[0])
    dialog = _open_dialog(window)
    items = [dialog.options_form.device.itemText(i) for i in range(dialog.options_form.device.count())]
    expected = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    assert items[:len(expected)] == expected
    if not torch.cuda.is_available():
        assert "cuda" not in items
    with qtbot.waitSignal(dialog.preview_ready, timeout=60000):
        pass
    width = dialog.width()

    def refuse(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise DeviceError("CUDA was requested but no CUDA GPU is usable by this PyTorch build (torch 2.13.0, CUDA not "
                          "compiled in); use --device cpu or auto, or install a CUDA build of PyTorch")

    monkeypatch.setattr(engine.api, "apply_filter", refuse)
    dialog.options_form.strength.setValue(50)
    qtbot.waitUntil(lambda: "Preview failed" in dialog.preview_status.text(), timeout=30000)
    text = dialog.preview_status.text()
    assert '--device' not in text and 'set Device to "cpu" or "auto"' in text
    QApplication.processEvents()
    screen = dialog.screen().availableGeometry().width()
    assert dialog.width() <= max(width, 700) and dialog.width() <= screen  # the long message wraps


# -- item 7: no usable filter: the window says why and what to do --------------------------------
def test_no_usable_filter_shows_a_notice_with_a_way_out(qtbot, window: MainWindow, plugin_path: Path, photo) -> None:  # noqa: ANN001
    import engine.api
    from plugins.registry import PluginRegistry

    assert not window.notice_bar.isVisible()
    # only the user folder counts here: built-in plugins with trained weights would make filters usable
    no_builtins = plugin_path.parent / "no-builtins"
    no_builtins.mkdir()
    engine.api._default_registry = PluginRegistry(builtin_dir=no_builtins, entry_points=False)
    (plugin_path / "tiny" / "weights.safetensors").unlink()
    window.reload_plugins_action.trigger()
    assert window.notice_bar.isVisible()
    text = window.notice_bar.label.text()
    assert len(engine.api.list_plugins()) == 1
    assert text.startswith("No filter can run: 1 filter has no trained weights yet") and "Open Plugins..." in text
    assert window.filter_actions["tiny"].text() == "Tiny Denoise (no weights)"
    window.open_file(photo[0])
    assert not window.filter_actions["tiny"].isEnabled()
    qtbot.mouseClick(window.notice_bar.button, Qt.MouseButton.LeftButton)
    assert window.plugins_dialog is not None and window.plugins_dialog.isVisible()
    window.plugins_dialog.close()


# -- item 8: Enter in the Feather box gives the keyboard back to the image -----------------------
def test_ctrl_z_after_typing_feather_and_enter_undoes_the_image(qtbot, window: MainWindow, photo) -> None:  # noqa: ANN001
    from PySide6.QtTest import QTest

    path, original = photo
    assert window.open_file(path)
    dialog = _open_dialog(window)
    with qtbot.waitSignal(dialog.applied, timeout=60000):
        dialog.start_apply()
    assert not np.array_equal(window.document.pixels, original)
    window.activateWindow()
    window.feather_spin.setFocus()
    qtbot.waitUntil(window.feather_spin.hasFocus, timeout=2000)
    window.feather_spin.lineEdit().selectAll()
    QTest.keyClicks(window.feather_spin, "4")
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Return)
    assert window.feather_spin.value() == 4.0
    assert window.canvas.hasFocus()
    QTest.keyClick(window.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(window.document.pixels, original)


# -- items 5 and 6: the batch dialog after a run; existing files; warnings ------------------------
def _batch_inputs(folder: Path) -> None:
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / "a.png")
    frames = [Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).convert("P") for _ in range(2)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    Image.fromarray(rng.integers(0, 256, (20, 24, 4), dtype=np.uint8), "CMYK").save(folder / "print.jpg")


def _run(qtbot, dialog) -> None:  # noqa: ANN001
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)


def test_batch_dialog_after_a_run_shows_warnings_and_no_stale_state(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    src, dst = tmp_path / "in", tmp_path / "out"
    _batch_inputs(src)
    dialog = window.open_batch_dialog()
    qtbot.waitExposed(dialog)
    dialog.input_field.edit.setText(str(src))
    dialog.output_field.edit.setText(str(dst))
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("png"))
    assert dialog.cancel_button.text() == "Close" and not dialog.per_file.isVisible()
    assert dialog.options_form.width() >= dialog.input_field.width()  # run options span the dialog
    _run(qtbot, dialog)
    assert dialog.report is not None and dialog.report.done == 3, dialog.summary.text()
    warnings = [dialog.warnings.item(i).text() for i in range(dialog.warnings.count())]
    assert any(w.startswith("anim.gif: ") and "only the first frame" in w for w in warnings)
    assert any(w.startswith("print.jpg: ") and "without colour management" in w for w in warnings)
    assert dialog.warnings.isVisible() and dialog.warnings.wordWrap()
    assert dialog.warnings.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert dialog.failures.minimumHeight() >= 6 * dialog.fontMetrics().lineSpacing()
    assert dialog.cancel_button.text() == "Close" and not dialog.per_file.isVisible()
    assert dialog.current.text() == "Finished 3 file(s)." and "left" not in dialog.current.text()
    dialog.reject()


def test_batch_dialog_after_cancel_has_no_stale_time_left(qtbot, window: MainWindow, tmp_path: Path, plugin_path: Path) -> None:  # noqa: ANN001
    from tests.plugin_factory import write_tiny_plugin

    write_tiny_plugin(plugin_path, "slow", sleep=0.2)
    window.reload_plugins_action.trigger()
    src, dst = tmp_path / "in", tmp_path / "out"
    _batch_inputs(src)
    dialog = window.open_batch_dialog()
    dialog.input_field.edit.setText(str(src))
    dialog.output_field.edit.setText(str(dst))
    dialog.filter_combo.setCurrentIndex(dialog.filter_combo.findData("slow"))
    dialog.options_form.tile.setValue(8)
    dialog.start_button.click()
    assert dialog.cancel_button.text() == "Cancel"
    qtbot.waitUntil(lambda: dialog.per_file.value() >= 1, timeout=15000)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=15000)
    assert "left" not in dialog.current.text() and dialog.current.text().startswith("Stopped after 0 of 3")
    assert dialog.cancel_button.text() == "Close" and not dialog.per_file.isVisible()
    dialog.reject()


def test_batch_dialog_never_replaces_existing_files_without_asking(qtbot, window: MainWindow, messages, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    src, dst = tmp_path / "in", tmp_path / "out"
    _batch_inputs(src)
    dst.mkdir()
    mine = dst / "a.png"
    Image.new("RGB", (5, 5), (9, 9, 9)).save(mine)  # the user's own file where an output would go
    before = mine.read_bytes()
    dialog = window.open_batch_dialog()
    dialog.input_field.edit.setText(str(src))
    dialog.output_field.edit.setText(str(dst))
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("png"))
    _run(qtbot, dialog)
    assert mine.read_bytes() == before
    failures = [dialog.failures.item(i).text() for i in range(dialog.failures.count())]
    assert len(failures) == 1 and failures[0].startswith("a.png: ")
    assert 'tick "Overwrite existing files"' in failures[0] and "--overwrite" not in failures[0]
    assert "1 existing file(s) were kept, not replaced" in dialog.summary.text()

    dialog.overwrite.setChecked(True)
    messages.answer = QMessageBox.StandardButton.Cancel
    dialog.start_button.click()
    assert not dialog.running and mine.read_bytes() == before
    question = messages.texts("question")[-1]
    assert question.startswith(f"3 file(s) in {dst} already exist (e.g. a.png).") and "will be replaced" in question
    messages.answer = QMessageBox.StandardButton.Yes
    _run(qtbot, dialog)
    assert mine.read_bytes() != before
    assert (dialog.report.done, dialog.report.skipped) == (1, 2)  # the two complete outputs are kept (resume)
    dialog.reject()


# -- expected of a photo editor ------------------------------------------------------------------
def test_repeat_last_filter_uses_the_last_values_and_dialogs_remember_them(qtbot, window: MainWindow, photo, settings) -> None:  # noqa: ANN001
    path, original = photo
    assert window.open_file(path)
    assert not window.repeat_action.isEnabled()
    dialog = _open_dialog(window)
    dialog.form.set_value("amount", 0.35)
    dialog.options_form.strength.setValue(60)
    with qtbot.waitSignal(dialog.applied, timeout=60000):
        dialog.start_apply()
    once = window.document.pixels.copy()
    assert window.repeat_action.isEnabled() and window.repeat_action.text() == "Repeat Tiny Denoise"
    assert window.repeat_action.shortcut().toString() == "Ctrl+F"
    assert settings.filter_values("tiny") == {"amount": 0.35, "@strength": 60}

    with qtbot.waitSignal(window.undo_stack.changed, timeout=60000):
        repeated = window.repeat_last_filter()
    assert repeated is not None and repeated.params() == {"amount": 0.35}
    assert window.undo_stack.count() == 2
    import engine.api
    from engine.core.types import RunOptions

    expected = engine.api.apply_filter(once, "tiny", {"amount": 0.35}, options=RunOptions(strength=0.6)).image
    np.testing.assert_allclose(window.document.pixels, expected, atol=1e-5)

    again = _open_dialog(window)  # a new dialog starts from the remembered values
    assert again.params() == {"amount": 0.35} and again.options_form.strength.value() == 60
    again.reject()
    settings.set_filter_values("tiny", {"amount": "garbage", "gone": 1.0})  # a stale memory never breaks the dialog
    third = _open_dialog(window)
    assert third.params() == {"amount": 1.0}
    third.reject()


def test_status_bar_cursor_pixel_selection_and_no_stale_timing(qtbot, window: MainWindow, photo, tmp_path: Path) -> None:  # noqa: ANN001
    path, original = photo
    assert window.open_file(path)
    canvas = window.canvas
    canvas.set_zoom(4.0)
    canvas.horizontalScrollBar().setValue(0)
    canvas.verticalScrollBar().setValue(0)
    point = canvas.image_to_view(_pointf(10.5, 5.5)).toPoint()
    qtbot.mouseMove(canvas.viewport(), pos=point)
    r, g, b = (np.rint(original[5, 10] * 255)).astype(int)
    assert window.status_fields.cursor_label.text() == f"10, 5: R {r} G {g} B {b}"
    window.set_selection(Selection.rectangle(4, 6, 20, 10))
    assert window.status_fields.selection_label.text() == "Selection 20 x 10 px"
    window.select_none()
    assert window.status_fields.selection_label.text() == ""
    dialog = _open_dialog(window)
    with qtbot.waitSignal(dialog.applied, timeout=60000):
        dialog.start_apply()
    assert window.time_label.text().startswith("Tiny Denoise: ")
    window.document.set_dirty(False)
    assert window.open_file(path)
    assert window.time_label.text() == ""  # timing of another image never stays
    window.document.set_dirty(False)
    window.close_document()
    assert window.time_label.text() == "" and window.status_fields.cursor_label.text() == ""


def _pointf(x: float, y: float):  # noqa: ANN202
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_pixel_text_scales() -> None:
    from gui.status_bar import pixel_text

    px = np.array([[[1.0, 0.5, 0.0]]], np.float32)
    assert pixel_text(px, None, 0, 0, 8) == "R 255 G 128 B 0"
    assert pixel_text(px, np.array([[0.25]], np.float32), 0, 0, 16) == "R 65535 G 32768 B 0 A 16384"
    assert pixel_text(px[..., :1], None, 0, 0, 32) == "L 1.0000"


def test_empty_window_says_open_or_drop(window: MainWindow) -> None:
    from gui.canvas import EMPTY_TEXT

    empty = window.canvas.viewport().grab().toImage()
    colours = {empty.pixel(x, y) for x in range(0, empty.width(), 3) for y in range(0, empty.height(), 3)}
    assert EMPTY_TEXT == "Open or drop an image" and len(colours) > 2  # text drawn over the background


def test_about_shows_version_and_licences(window: MainWindow, messages) -> None:  # noqa: ANN001
    from gui.about import app_version

    window.about_action.trigger()
    kind, _title, text = messages.calls[-1]
    assert kind == "about"
    assert app_version() in text and app_version() != "unknown"
    assert "Licence: MIT" in text and "Tiny Denoise (tiny 0.1.0): MIT" in text


def test_fit_follows_the_window_up_to_100_percent(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    path, _ = _big_photo(tmp_path, 256)
    window.resize(420, 320)
    QApplication.processEvents()
    assert window.open_file(path)
    small = window.canvas.zoom
    assert small < 1.0
    window.resize(1000, 900)
    qtbot.waitUntil(lambda: window.canvas.zoom == 1.0, timeout=10000)  # grows with the window, never past 100 %
    window.zoom_out_action.trigger()
    assert window.canvas.zoom == pytest.approx(2 / 3) and not window.canvas.fit_mode
    window.resize(900, 800)
    QApplication.processEvents()
    assert window.canvas.zoom == pytest.approx(2 / 3)  # a chosen zoom stays


def test_recent_menu_shows_full_path_tooltips(window: MainWindow, photo) -> None:  # noqa: ANN001
    assert window.open_file(photo[0])
    window.recent_menu.aboutToShow.emit()
    entry = window.recent_menu.actions()[0]
    assert window.recent_menu.toolTipsVisible() and entry.toolTip() == str(photo[0].resolve())


def test_filter_menu_lists_the_default_before_reference_models(window: MainWindow, plugin_path: Path) -> None:
    from tests.plugin_factory import write_tiny_plugin

    write_tiny_plugin(plugin_path, "aaa-ref", menu="Denoise (Aaa reference)")
    window.reload_plugins_action.trigger()
    sub = next(a.menu() for a in window.filter_menu.actions() if a.menu() is not None and a.text() == "Denoise")
    labels = [a.text() for a in sub.actions()]
    assert labels.index("Tiny Denoise") < labels.index("Denoise (Aaa reference)")
    assert window.filter_menu.actions()[0] is window.repeat_action


def test_pixel_limit_is_a_preference(qtbot, window: MainWindow, messages, settings, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("CLARITY_MAX_PIXELS", raising=False)
    path = tmp_path / "wide.png"
    Image.new("RGB", (1500, 1000)).save(path)  # 1.5 MP
    dialog = window.open_preferences()
    assert dialog.max_megapixels.value() == 200
    dialog.max_megapixels.setValue(1)
    dialog.accept()
    assert settings.max_megapixels() == 1
    assert not window.open_file(path)
    text = messages.texts("warning")[-1]
    assert "more than the limit of 1 megapixels" in text and "Edit > Preferences" in text and "CLARITY_MAX_PIXELS" not in text
    settings.set_max_megapixels(2)
    assert window.open_file(path)
