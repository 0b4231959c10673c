"""Batch dialog over a temp folder, Plugins dialog, platform check, app bootstrap helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from gui.main_window import MainWindow
from gui.platform_check import apt_command, missing_libraries
from tests.plugin_factory import write_tiny_plugin


def _write_inputs(folder: Path) -> None:
    rng = np.random.default_rng(3)
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / name)
    (folder / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n-- truncated --")


def test_batch_dialog_runs_folder_and_lists_failures(qtbot, window: MainWindow, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtGui import QDesktopServices

    src, dst = tmp_path / "in", tmp_path / "out"
    _write_inputs(src)
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toLocalFile()) or True))
    dialog = window.open_batch_dialog()
    assert dialog.isVisible() and not dialog.overwrite.isChecked()  # never overwrite by default
    dialog.input_field.edit.setText(str(src))
    dialog.output_field.edit.setText(str(dst))
    dialog.filter_combo.setCurrentIndex(dialog.filter_combo.findData("tiny"))
    assert dialog.filter_combo.currentData() == "tiny"
    dialog.form.set_value("amount", 0.5)
    reports: list = []
    dialog.finished_report.connect(reports.append)
    dialog.start_button.click()
    assert dialog.running and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    assert len(reports) == 1, dialog.summary.text()
    report = reports[0]
    assert report is dialog.report
    assert (report.done, report.failed, report.cancelled) == (2, 1, False)
    assert (dst / "a.png").exists() and (dst / "sub" / "b.png").exists()
    assert dialog.failures.count() == 1 and dialog.failures.item(0).text().startswith("c.png: ")
    assert dialog.overall.value() == dialog.overall.maximum()
    assert "2 done" in dialog.summary.text()
    assert dialog.open_output_button.isEnabled()
    dialog.open_output_button.click()
    assert opened == [str(dst)]
    assert window.settings.last_folder("batch_output") == str(dst)
    # the written outputs are the filter's result of each input
    import engine.api

    a = np.asarray(Image.open(src / "a.png"), np.float32) / 255.0
    expected = engine.api.apply_filter(a, "tiny", {"amount": 0.5}).image
    got = np.asarray(Image.open(dst / "a.png"), np.float32) / 255.0
    np.testing.assert_allclose(got, expected, atol=0.5 / 255 + 1e-5)
    dialog.reject()


def test_batch_dialog_shows_hostile_file_names_escaped(qtbot, window: MainWindow, tmp_path: Path) -> None:  # noqa: ANN001
    import unicodedata

    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    hostile = "bad\nname\u202egnp\x1b[2J.png"  # newline, right-to-left override, terminal escape
    (src / hostile).write_bytes(b"\x89PNG\r\n\x1a\n-- truncated --")
    assert (src / hostile).is_file()  # a real file with that name
    dialog = window.open_batch_dialog()
    dialog.input_field.edit.setText(str(src))
    dialog.output_field.edit.setText(str(dst))
    dialog.start_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30000)
    assert dialog.failures.count() == 1
    text = dialog.failures.item(0).text()
    assert text.startswith("bad\\x0aname\\u202egnp\\x1b[2J.png: ")
    assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    dialog.reject()


def test_batch_dialog_reports_missing_input(window: MainWindow, tmp_path: Path) -> None:
    dialog = window.open_batch_dialog()
    dialog.input_field.edit.setText("")
    dialog.output_field.edit.setText(str(tmp_path / "out"))
    dialog.start()
    assert not dialog.running and dialog.summary.text() == "Cannot start: choose an input folder"
    dialog.reject()


def test_plugins_dialog_lists_status_and_reloads(window: MainWindow, plugin_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtGui import QDesktopServices

    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toLocalFile()) or True))
    dialog = window.open_plugins_dialog()
    ids = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
    assert "tiny" in ids
    row = ids.index("tiny")
    assert [dialog.table.item(row, c).text() for c in range(7)] == [
        "Tiny", "tiny", "user folder", "0.1.0", "denoise", "MIT", "ok"
    ]
    write_tiny_plugin(plugin_path, "fresh", sha256="f" * 64)
    dialog.reload_button.click()
    ids = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
    fresh = ids.index("fresh")
    assert dialog.table.item(fresh, 6).text() == "hash mismatch" and dialog.table.item(fresh, 7).text()
    assert "fresh" in window.filter_actions and not window.filter_actions["fresh"].isEnabled()
    dialog.open_folder_button.click()
    assert opened == [str(plugin_path)]
    dialog.reject()


LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibweird.so.9 => not found
"""


def test_platform_check_parses_ldd_and_prints_apt_line() -> None:
    missing = missing_libraries(LDD_OUTPUT)
    assert missing == ["libweird.so.9", "libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    text = apt_command(missing)
    assert text.splitlines()[0] == "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4"
    assert "libweird.so.9" in text.splitlines()[1]


def test_platform_check_is_silent_offscreen(monkeypatch, capsys) -> None:  # noqa: ANN001
    from gui import platform_check

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setenv("DISPLAY", ":99")
    assert platform_check.main() == 0
    assert capsys.readouterr().out == ""


def test_app_clears_cv2_plugin_path(monkeypatch) -> None:  # noqa: ANN001
    from gui import app

    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", "/x/site-packages/cv2/qt/plugins")
    app._clear_cv2_qt_plugin_path()  # noqa: SLF001
    import os

    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ
    assert app.SAMPLE_PHOTO.exists() and app.SAMPLE_PHOTO.stat().st_size < 300_000


@pytest.mark.parametrize("shortcut", ["Ctrl+O", "Ctrl+S", "Ctrl+Shift+S", "Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+Y", "Ctrl+A", "Ctrl+D", "Ctrl+0", "Ctrl+1", "Ctrl++", "Ctrl+-"])
def test_required_shortcuts_exist(window: MainWindow, shortcut: str) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    wanted = QKeySequence(shortcut)
    found = [a for a in window.findChildren(QAction) if any(s == wanted for s in a.shortcuts())]
    assert len(found) == 1, f"{shortcut}: {[a.text() for a in found]}"


EXTRA_PARAMS = """
[[parameters]]
name = "sigma"
type = "float"
label = "Noise level"
help = "Noise standard deviation (0-255)."
min = 0.0
max = 50.0
step = 0.5
default = "auto"
auto = true

[[parameters]]
name = "passes"
type = "int"
min = 1
max = 4
default = 2

[[parameters]]
name = "sharpen"
type = "bool"
default = true

[[parameters]]
name = "mode"
type = "choice"
choices = ["soft", "hard"]
default = "hard"
"""


def test_parameter_form_builds_editors_from_manifest(qtbot, plugin_dir: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QCheckBox, QComboBox

    from engine.core.types import DeviceKind, RunOptions
    from gui.param_form import ParameterForm, RunOptionsForm, _NumberEditor
    from plugins.manifest import load_manifest

    folder = write_tiny_plugin(plugin_dir, "rich", extra_toml=EXTRA_PARAMS)
    manifest = load_manifest(folder / "plugin.toml")
    form = ParameterForm(manifest)
    qtbot.addWidget(form)
    assert form.values() == {"amount": 1.0, "sigma": "auto", "passes": 2, "sharpen": True, "mode": "hard"}
    sigma = form.editors["sigma"]
    assert isinstance(sigma, _NumberEditor) and not sigma.isEnabled()
    assert sigma.toolTip() == "Noise standard deviation (0-255)."
    assert (sigma.spin.minimum(), sigma.spin.maximum(), sigma.spin.singleStep()) == (0.0, 50.0, 0.5)
    changes: list[int] = []
    form.changed.connect(lambda: changes.append(1))
    form.auto_boxes["sigma"].setChecked(False)
    sigma.slider.setValue(200)  # 20 % of 0..50 -> 10.0
    assert form.values()["sigma"] == pytest.approx(10.0)
    form.set_value("passes", 4)
    assert isinstance(form.editors["sharpen"], QCheckBox) and isinstance(form.editors["mode"], QComboBox)
    form.set_value("mode", "soft")
    assert form.values() == {"amount": 1.0, "sigma": pytest.approx(10.0), "passes": 4, "sharpen": True, "mode": "soft"}
    assert len(changes) >= 4
    from plugins.params import resolve_params

    resolved = resolve_params(manifest, form.values()).values  # what the form yields passes validation
    assert resolved["passes"] == 4 and resolved["mode"] == "soft" and resolved["sigma"] == pytest.approx(10.0)
    opts = RunOptionsForm()
    qtbot.addWidget(opts)
    opts.strength.setValue(40)
    opts.device.setCurrentIndex(opts.device.findText("cpu"))
    opts.tile.setValue(64)
    assert opts.options() == RunOptions(tile=64, device=DeviceKind.CPU, strength=0.4)
    opts.quality.setCurrentIndex(opts.quality.findData(8))
    assert opts.options() == RunOptions(tile=64, device=DeviceKind.CPU, strength=0.4, ensemble=8)
    assert isinstance(opts.options().device, DeviceKind)


def test_batch_cancel_returns_partial_report(qtbot, window: MainWindow, tmp_path: Path, plugin_path: Path) -> None:  # noqa: ANN001
    write_tiny_plugin(plugin_path, "slow", sleep=0.2)
    window.reload_plugins_action.trigger()
    src, dst = tmp_path / "in", tmp_path / "out"
    _write_inputs(src)
    dialog = window.open_batch_dialog()
    dialog.input_field.edit.setText(str(src))
    dialog.output_field.edit.setText(str(dst))
    dialog.filter_combo.setCurrentIndex(dialog.filter_combo.findData("slow"))
    dialog.options_form.tile.setValue(8)  # 20x24 -> 12 tiles of 0.2 s per file
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.per_file.value() >= 1, timeout=15000)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()  # Cancel during a run stops the run, not the dialog
    qtbot.waitUntil(lambda: not dialog.running, timeout=15000)
    assert dialog.report is not None and dialog.report.cancelled
    assert dialog.report.done == 0 and "cancelled" in dialog.summary.text()
    assert not any(p.suffix == ".png" for p in dst.rglob("*")) if dst.exists() else True
    dialog.reject()


def test_builtin_plugin_forms_yield_valid_parameters(qtbot) -> None:  # noqa: ANN001
    from gui.param_form import ParameterForm
    from plugins.params import resolve_params
    from plugins.registry import PluginRegistry

    manifests = [p.manifest for p in PluginRegistry(user_dirs=[], entry_points=False).plugins() if p.manifest]
    assert manifests, "the repository ships built-in plugins"
    for manifest in manifests:
        form = ParameterForm(manifest)
        qtbot.addWidget(form)
        values = form.values()
        assert set(values) == {p.name for p in manifest.parameters}
        resolve_params(manifest, values)


RUN_APP_SCRIPT = """
import sys
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
import gui.settings
gui.settings.default_settings = lambda: QSettings(sys.argv[2], QSettings.Format.IniFormat)
from gui.app import create_application, run_app
from gui.main_window import MainWindow
app = create_application()

def check_and_quit():
    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow) and w.isVisible():
            print("TITLE", w.windowTitle(), w.document.width, w.document.height)
            w.close()
    QApplication.quit()

QTimer.singleShot(300, check_and_quit)
sys.exit(run_app(Path(sys.argv[1])))
"""


def test_run_app_opens_the_given_file_and_exits_cleanly(tmp_path: Path, photo) -> None:  # noqa: ANN001
    """``clarity open FILE`` end to end, in a subprocess (QApplication.exec/quit cannot be
    repeated inside the test process)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-c", RUN_APP_SCRIPT, str(photo[0]), str(tmp_path / "s.ini")],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "TITLE photo.png[*] - Clarity Studio 64 48" in result.stdout
    assert str(photo[0].resolve()) in (tmp_path / "s.ini").read_text()  # recent files went to the given store
