"""The filter dialog shows what "Auto" resolves to on the whole image ("Auto: 14"), and its
preview runs with that value; unchecking "Auto" starts from it (issue 20: "start from it and adjust")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gui.main_window import MainWindow
from tests.plugin_factory import AUTO_LEVEL_TOML, write_tiny_plugin


def test_auto_box_shows_the_whole_image_value_and_the_preview_uses_it(
    qtbot, window: MainWindow, photo, plugin_path: Path, monkeypatch  # noqa: ANN001
) -> None:
    import engine.api

    write_tiny_plugin(plugin_path, "tiny-auto", extra_toml=AUTO_LEVEL_TOML, menu="Tiny Auto")
    window.reload_plugins_action.trigger()
    path, pixels = photo
    assert window.open_file(path)
    seen: list[tuple[int, ...]] = []
    real = engine.api.analyse_filter

    def recording(image, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(image.shape)
        return real(image, *args, **kwargs)

    monkeypatch.setattr(engine.api, "analyse_filter", recording)
    calls: list[dict] = []
    real_apply = engine.api.apply_filter

    def apply_recording(image, plugin_id, params, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(dict(params))
        return real_apply(image, plugin_id, params, **kwargs)

    monkeypatch.setattr(engine.api, "apply_filter", apply_recording)
    window.filter_actions["tiny-auto"].trigger()
    dialog = window.filter_dialog
    assert dialog is not None and dialog.form.auto_boxes["level"].text() == "Auto"
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        pass
    level = round(float(pixels.mean()) * 100.0, 3)
    assert seen == [pixels.shape]  # resolved on the whole image, once
    assert dialog.form.auto_boxes["level"].text() == f"Auto: {level:.1f}".removesuffix(".0")  # e.g. "Auto: 14"
    assert calls[-1]["level"] == level  # the preview's crop ran with the whole image's value
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        dialog.form.set_value("amount", 0.5)  # another parameter set: resolved again (values may depend on it)
    assert len(seen) == 2 and calls[-1]["level"] == level
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        dialog.form.set_value("amount", 1.0)  # back to the first set: cached, not resolved again
    assert len(seen) == 2 and calls[-1] == {"amount": 1.0, "level": level}
    assert dialog.form.editors["level"].value() == pytest.approx(level, abs=0.005)  # the greyed editor shows it
    with qtbot.waitSignal(dialog.preview_ready, timeout=20000):
        dialog.form.auto_boxes["level"].setChecked(False)  # unchecked: the user starts from the estimate
    assert dialog.form.auto_boxes["level"].text() == "Auto"
    assert calls[-1]["level"] == pytest.approx(level, abs=0.005) and len(seen) == 2
    dialog.reject()
    assert np.array_equal(window.document.pixels, pixels)
