"""Editors for a plugin's parameters and for the run options (strength, device).

:class:`ParameterForm` builds one editor per :class:`plugins.api.ParamSpec` of a manifest:
slider + spin box for ``float``/``int`` (range, step, default from the manifest), a check box
for ``bool``, a combo box for ``choice``; the manifest's ``help`` becomes the tooltip; a
parameter with ``allow_auto`` gets an "Auto" check box that disables its editor and yields
``"auto"``. Both the filter dialog and the batch dialog use it. ``changed`` fires on every edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QSlider,
    QSpinBox,
    QWidget,
)

from engine.core.types import DeviceKind, RunOptions
from gui.devices import available_devices
from plugins.api import AUTO, Manifest, ParamSpec, ParamType, ParamValue

SLIDER_STEPS = 1000


class _NumberEditor(QWidget):
    """A slider and a spin box kept in sync, for a float or int parameter."""

    changed = Signal()

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._is_int = spec.type is ParamType.INT
        lo = spec.minimum if spec.minimum is not None else 0.0
        hi = spec.maximum if spec.maximum is not None else max(1.0, float(spec.default) * 2 if not isinstance(spec.default, str) else 1.0)
        self._lo, self._hi = float(lo), float(hi)
        self.spin: QSpinBox | QDoubleSpinBox
        if self._is_int:
            self.spin = QSpinBox()
            self.spin.setRange(int(lo), int(hi))
            self.spin.setSingleStep(int(spec.step or 1))
        else:
            self.spin = QDoubleSpinBox()
            step = float(spec.step or (self._hi - self._lo) / 100 or 0.01)
            decimals = max(0, min(6, -int(f"{step:e}".split("e")[1]))) if step < 1 else 0
            self.spin.setDecimals(max(2, decimals))
            self.spin.setRange(self._lo, self._hi)
            self.spin.setSingleStep(step)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 3)
        layout.addWidget(self.spin, 1)
        default = spec.default if not isinstance(spec.default, str) else (lo + hi) / 2
        self.set_value(default)
        self.spin.valueChanged.connect(self._spin_moved)
        self.slider.valueChanged.connect(self._slider_moved)

    def value(self) -> float | int:
        return int(self.spin.value()) if self._is_int else float(self.spin.value())

    def set_value(self, value: float) -> None:
        self.spin.setValue(int(value) if self._is_int else float(value))
        self._sync_slider()

    def _sync_slider(self) -> None:
        span = self._hi - self._lo
        pos = 0 if span <= 0 else round((float(self.spin.value()) - self._lo) / span * SLIDER_STEPS)
        self.slider.blockSignals(True)
        self.slider.setValue(pos)
        self.slider.blockSignals(False)

    def _spin_moved(self) -> None:
        self._sync_slider()
        self.changed.emit()

    def _slider_moved(self, pos: int) -> None:
        value = self._lo + (self._hi - self._lo) * pos / SLIDER_STEPS
        self.spin.blockSignals(True)
        self.spin.setValue(round(value) if self._is_int else value)
        self.spin.blockSignals(False)
        self.changed.emit()


class ParameterForm(QWidget):
    """Editors for every parameter of one manifest; :meth:`values` returns the typed values."""

    changed = Signal()

    def __init__(self, manifest: Manifest | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._getters: dict[str, Callable[[], ParamValue]] = {}
        self._setters: dict[str, Callable[[ParamValue], None]] = {}
        self.editors: dict[str, QWidget] = {}
        self.auto_boxes: dict[str, QCheckBox] = {}
        if manifest is not None:
            self.set_manifest(manifest)

    def set_manifest(self, manifest: Manifest | None) -> None:
        """Rebuild the editors for ``manifest`` (``None``: empty form)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._getters.clear()
        self._setters.clear()
        self.editors.clear()
        self.auto_boxes.clear()
        for spec in manifest.parameters if manifest else ():
            self._add(spec)

    def _add(self, spec: ParamSpec) -> None:
        editor: QWidget
        if spec.type in (ParamType.FLOAT, ParamType.INT):
            number = _NumberEditor(spec)
            number.changed.connect(self.changed)
            editor, getter, setter = number, number.value, lambda v, n=number: n.set_value(float(v))
        elif spec.type is ParamType.BOOL:
            box = QCheckBox()
            box.setChecked(bool(spec.default))
            box.toggled.connect(self.changed)
            editor, getter, setter = box, box.isChecked, lambda v, b=box: b.setChecked(bool(v))
        else:
            combo = QComboBox()
            for choice in spec.choices:
                combo.addItem(str(choice), choice)
            index = combo.findData(spec.default)
            combo.setCurrentIndex(max(0, index))
            combo.currentIndexChanged.connect(self.changed)
            editor, getter = combo, combo.currentData
            setter = lambda v, c=combo: c.setCurrentIndex(max(0, c.findData(v)))  # noqa: E731
        editor.setToolTip(spec.help)
        self.editors[spec.name] = editor
        self._setters[spec.name] = setter
        row: QWidget = editor
        if spec.allow_auto:
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            auto = QCheckBox("Auto")
            auto.setToolTip(f"Let the plugin estimate {spec.display_label.lower()} from the image.")
            auto.toggled.connect(editor.setDisabled)
            auto.toggled.connect(self.changed)
            auto.setChecked(spec.default == AUTO)
            editor.setDisabled(auto.isChecked())
            line.addWidget(editor, 1)
            line.addWidget(auto)
            self.auto_boxes[spec.name] = auto
            self._getters[spec.name] = lambda a=auto, g=getter: AUTO if a.isChecked() else g()
        else:
            self._getters[spec.name] = getter
        label = spec.display_label
        self._layout.addRow(label, row)
        self._layout.labelForField(row).setToolTip(spec.help)

    def values(self) -> dict[str, ParamValue]:
        """Current values by parameter name (``"auto"`` where the Auto box is checked)."""
        return {name: get() for name, get in self._getters.items()}

    def show_resolved(self, resolved: Mapping[str, ParamValue]) -> None:
        """Label each checked Auto box with the value the plugin resolved ("Auto: 14"), the others "Auto".

        The (disabled) editor behind a checked box moves to that value too, without emitting ``changed``,
        so that unchecking "Auto" starts from the estimate rather than from the editor's default.
        """
        for name, box in self.auto_boxes.items():
            value = resolved.get(name)
            if box.isChecked() and isinstance(value, (int, float)) and not isinstance(value, bool):
                box.setText(f"Auto: {value:.1f}".removesuffix(".0"))
                editor = self.editors[name]
                if isinstance(editor, _NumberEditor):
                    with QSignalBlocker(editor):
                        editor.set_value(float(value))
            else:
                box.setText("Auto")

    def set_value(self, name: str, value: ParamValue) -> None:
        """Set one editor (``"auto"`` checks its Auto box). Unknown names raise ``KeyError``."""
        if value == AUTO and name in self.auto_boxes:
            self.auto_boxes[name].setChecked(True)
            return
        if name in self.auto_boxes:
            self.auto_boxes[name].setChecked(False)
        self._setters[name](value)


QUALITY_CHOICES = (
    ("Standard", 1),
    ("High (4 passes, 4x the time)", 4),
    ("Best (8 passes, 8x the time)", 8),
)
"""The Quality menu: label and self-ensemble passes (``RunOptions.ensemble``, :mod:`engine.ensemble`)."""


class RunOptionsForm(QWidget):
    """Strength (0-100 %), quality (self-ensemble passes), compute device (only those available)
    and tile size; :meth:`options` builds the ``RunOptions``."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.strength = QSpinBox()
        self.strength.setRange(0, 100)
        self.strength.setValue(100)
        self.strength.setSuffix(" %")
        self.strength.setToolTip("Blend with the original: 0 % leaves the image unchanged, 100 % is the full filter.")
        self.strength.valueChanged.connect(self.changed)
        self.device = QComboBox()
        for kind in available_devices():  # never offer a device this build cannot use
            self.device.addItem(kind.value, kind)
        self.device.setToolTip("Where the filter runs: auto picks a GPU when there is one, else the CPU. "
                               "Only devices this installation can use are listed.")
        self.device.currentIndexChanged.connect(self.changed)
        self.tile = QSpinBox()
        self.tile.setRange(0, 8192)
        self.tile.setSingleStep(64)
        self.tile.setSpecialValueText("Auto")
        self.tile.setSuffix(" px")
        self.tile.setToolTip("Tile edge in pixels. Auto sizes tiles from the free memory; smaller tiles use less memory.")
        self.tile.valueChanged.connect(self.changed)
        self.quality = QComboBox()
        for label, passes in QUALITY_CHOICES:
            self.quality.addItem(label, passes)
        self.quality.setToolTip("High and Best run the filter on flipped and rotated copies of the image and "
                                "average them: slightly cleaner results, 4x or 8x the time.")
        self.quality.currentIndexChanged.connect(self.changed)
        layout.addRow("Strength", self.strength)
        layout.addRow("Quality", self.quality)
        layout.addRow("Device", self.device)
        layout.addRow("Tile size", self.tile)

    def options(self) -> RunOptions:
        """``RunOptions`` with the chosen strength, quality, device and tile size (``None`` = automatic)."""
        tile = self.tile.value() or None
        device = DeviceKind(self.device.currentData())  # Qt hands str-enums back as plain str
        passes = int(self.quality.currentData())
        return RunOptions(tile=tile, device=device, strength=self.strength.value() / 100.0, ensemble=passes)
