"""The filter dialog: parameters, live preview, Apply with progress and Cancel.

The dialog never changes the document itself. It shows the parameters of one plugin (see
:class:`gui.param_form.ParameterForm`) plus strength and device, computes a preview of a crop
(at most :data:`PREVIEW_MAX` pixels a side, centred on the selection if there is one, else on
the visible area; see :mod:`gui.preview_view`) in a :class:`gui.worker.Job` 300 ms after the
last change. The preview shows exactly what Apply does to that crop (pixels outside the
selection stay unfiltered); the user drags it to move the crop and zooms it with the wheel,
and "Show original" toggles before/after. Notes about the preview area stay visible in their
own line, apart from the timing line. It runs and on Apply runs the filter on the whole image (restricted to
the selection mask) in another job with a progress bar and Cancel. The result arrives as
``applied(RunResult)``; the main window turns it into an undo step. A failure is shown in a
message box and leaves the image untouched; the dialog stays open to try again. Once closed,
:meth:`FilterDialog.release_images` drops its references to the image, the mask and the preview
so a finished dialog never keeps a copy of the photo alive.

"Auto" parameters: the preview first resolves them on the WHOLE image
(``engine.api.analyse_filter``, cached per parameter set), so the crop runs with the values
Apply will use, and each checked Auto box shows its value ("Auto: 14").

Super-resolution with a selection: the engine crops the selection's bounding box and
upscales it; the window then replaces the image with that upscaled crop (one undo step). This
follows the plugin's output *scale*, not its task: any plugin with scale > 1 (a scale-2 "other"
plugin too) previews and applies the selection's bounding box upscaled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QRect, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.cancel import CancelToken
from engine.core.types import Region, RunResult
from gui.job_dialog import JobDialog
from gui.param_form import ParameterForm, RunOptionsForm
from gui.preview_view import PreviewView, clamp_rect, preview_region
from gui.qimage import to_qimage
from gui.worker import Job, ReportCallback
from plugins.api import AUTO, ParamValue, PluginInfo

PREVIEW_MAX = 384
PREVIEW_DEBOUNCE_MS = 300

FilterCall = Callable[..., RunResult]
"""``apply_filter``-compatible callable (injected so tests and the window share one engine)."""


def preview_crop(visible: QRect, width: int, height: int, limit: int = PREVIEW_MAX) -> QRect:
    """A crop of at most ``limit`` x ``limit`` pixels centred on ``visible`` inside the image."""
    return preview_region(visible, width, height, limit)


class FilterDialog(JobDialog):
    """Parameters + preview + Apply for one plugin on one image."""

    applied = Signal(object)  # RunResult
    failed = Signal(str)  # Apply failed; the message was shown
    preview_ready = Signal()

    def __init__(
        self,
        info: PluginInfo,
        pixels: np.ndarray,
        mask: np.ndarray | None,
        visible: QRect,
        apply_filter: FilterCall,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        if info.manifest is None:
            raise ValueError("FilterDialog needs a plugin with a valid manifest")
        self.manifest = info.manifest
        self._pixels: np.ndarray | None = pixels
        self._mask = mask
        self._apply_filter = apply_filter
        h, w = pixels.shape[:2]
        self._selection_box = Region.bounding(mask) if mask is not None else None
        self.crop = preview_region(visible, w, h, PREVIEW_MAX, self._selection_box)
        if self._selection_box is not None and info.manifest.max_scale > 1:
            box = self._selection_box
            self.crop = self.crop.intersected(QRect(box.x, box.y, box.width, box.height))  # Apply upscales only the box
        self._preview_crop = QRect(self.crop)  # the area the running or last preview job computed
        self._preview_job: Job | None = None
        self._resolved_cache: dict[tuple[tuple[str, str], ...], dict[str, ParamValue]] = {}
        self._preview_pending = False
        self._apply_job: Job | None = None
        self.preview_result: np.ndarray | None = None
        self.last_error: str = ""
        self.last_device: str = ""
        self.setWindowTitle(f"{self.manifest.menu or self.manifest.name}")
        self.setModal(True)

        self.form = ParameterForm(self.manifest)
        self.options_form = RunOptionsForm()
        self.preview_view = PreviewView(PREVIEW_MAX)
        self.preview_view.pan_finished.connect(self.pan_preview)
        self.preview_view.zoom_changed.connect(self._preview_zoom_changed)
        self.show_before = QCheckBox("Show original (before)")
        self.show_before.setShortcut("B")
        self.show_before.setToolTip("Before/after: show the unfiltered preview area (B)")
        self.show_before.toggled.connect(self._show_preview)
        self.preview_note = QLabel("")
        self.preview_note.setWordWrap(True)
        self.preview_status = QLabel("")
        self.preview_status.setWordWrap(True)
        self.note = QLabel(self._scope_note())
        self.note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.buttons = QDialogButtonBox()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.buttons.addButton(self.apply_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.apply_button.clicked.connect(self.start_apply)
        self.cancel_button.clicked.connect(self._cancel_clicked)

        left = QVBoxLayout()
        if self.manifest.description:
            desc = QLabel(self.manifest.description)
            desc.setWordWrap(True)
            left.addWidget(desc)
        left.addWidget(self.form)
        left.addWidget(self.options_form)
        left.addWidget(self.note)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.preview_view, 1)
        right.addWidget(self.show_before)
        right.addWidget(self.preview_note)
        right.addWidget(self.preview_status)
        top = QHBoxLayout()
        top.addLayout(left, 1)
        top.addLayout(right, 2)
        outer = QVBoxLayout(self)
        outer.addLayout(top)
        outer.addWidget(self.progress)
        outer.addWidget(self.buttons)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(PREVIEW_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.start_preview)
        self.form.changed.connect(self.schedule_preview)
        self.options_form.changed.connect(self.schedule_preview)
        self._show_preview()
        self.schedule_preview()

    # -- description -------------------------------------------------------------------------
    def _upscales(self, params: dict[str, ParamValue] | None = None) -> bool:
        """True when a run with ``params`` (default: the form's) has an output scale above 1
        (the ``scale`` parameter if the plugin declares one, else its first scale)."""
        m = self.manifest
        if m.parameter("scale") is not None:
            value = (params if params is not None else self.params()).get("scale")
            try:
                return int(value) > 1  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return m.max_scale > 1
        return m.scales[0] > 1

    def _scope_note(self) -> str:
        sr = self._upscales()
        if sr and self._mask is not None:
            return "Super-resolution: the selection's bounding box is cropped and upscaled; it replaces the image (Undo restores it)."
        if sr:
            return "Super-resolution: the whole image is upscaled."
        if self._mask is not None:
            return "Applies to the selection only; pixels outside it stay unchanged."
        return "Applies to the whole image."

    @property
    def mask(self) -> np.ndarray | None:
        """The selection mask the filter is restricted to (``None``: the whole image)."""
        return self._mask

    def params(self) -> dict[str, ParamValue]:
        """The parameter values currently set in the form."""
        return self.form.values()

    # -- preview ---------------------------------------------------------------------------------
    def schedule_preview(self) -> None:
        """(Re)start the debounce timer; the preview is computed when it fires."""
        self._debounce.start()

    def _image(self) -> np.ndarray:
        if self._pixels is None:
            raise RuntimeError("the filter dialog was closed and released its image")
        return self._pixels

    def _crop_arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        c = self.crop
        px = np.ascontiguousarray(self._image()[c.y() : c.y() + c.height(), c.x() : c.x() + c.width()])
        mask = None
        if self._mask is not None:
            mask = np.ascontiguousarray(self._mask[c.y() : c.y() + c.height(), c.x() : c.x() + c.width()])
        return px, mask

    def start_preview(self) -> None:
        """Compute the preview of the crop now (cancels and re-queues a running one)."""
        if self._preview_job is not None:
            self._preview_pending = True
            self._preview_job.cancel()
            return
        px, mask = self._crop_arrays()
        sr = self._upscales()
        self.preview_note.setText(self._region_note(mask, sr))
        if mask is not None and not sr and not mask.any():
            self.preview_result = None  # nothing in this area changes: the preview is the original
            self.preview_status.setText("")
            self._show_preview()
            return
        plugin_id, params, options = self.manifest.id, self.params(), None
        try:
            options = self.options_form.options()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.preview_status.setText(str(exc))
            return
        call, resolve = self._apply_filter, self._resolver(params)

        def task(report: ReportCallback, cancel: CancelToken) -> RunResult:
            resolved = resolve()  # "auto" values from the whole image, so the crop runs as Apply will
            result = call(px, plugin_id, {**params, **resolved}, mask=None if sr else mask, options=options,
                          progress=report, cancel=cancel)  # fmt: skip
            return replace(result, resolved=resolved)

        self._preview_crop = QRect(self.crop)
        self.preview_status.setText("Computing preview...")
        job = Job(task, name="clarity-preview", parent=self)
        job.finished.connect(self._preview_finished)
        job.failed.connect(self._preview_failed)
        job.done.connect(self._preview_done)
        self._preview_job = job.start()

    def _resolver(self, params: dict[str, ParamValue]) -> Callable[[], dict[str, ParamValue]]:
        """A call (for the preview's worker thread) giving the values the plugin resolves on the
        WHOLE image for ``params`` (``engine.api.analyse_filter``), cached per parameter set."""
        if AUTO not in params.values():
            return dict
        key = tuple(sorted((k, str(v)) for k, v in params.items()))
        cache, image, plugin_id = self._resolved_cache, self._image(), self.manifest.id

        def resolve() -> dict[str, ParamValue]:
            if key not in cache:
                from engine import api

                cache[key] = api.analyse_filter(image, plugin_id, params)
            return cache[key]

        return resolve

    def _region_note(self, mask: np.ndarray | None, sr: bool) -> str:
        """The line under the preview that says what the preview area holds."""
        c = self.crop
        where = f"Preview area {c.width()} x {c.height()} px at {c.x()}, {c.y()} (drag to move, wheel to zoom)."
        if mask is None or sr:
            return where
        if not mask.any():
            return "The selection is outside the preview area: nothing here changes. Drag the preview to move it. " + where
        return "Pixels outside the selection stay unfiltered. " + where

    def set_crop(self, crop: QRect) -> None:
        """Move/resize the preview area (clamped into the image) and recompute the preview."""
        h, w = self._image().shape[:2]
        crop = clamp_rect(crop.x(), crop.y(), crop.width(), crop.height(), w, h)
        if crop != self.crop:
            self.crop = crop
            self.preview_result = None
            self._show_preview()
        self.schedule_preview()

    def pan_preview(self, dx: int, dy: int) -> None:
        """Move the preview area by ``(dx, dy)`` image pixels."""
        self.set_crop(self.crop.translated(dx, dy))

    def _preview_zoom_changed(self, zoom: float) -> None:
        side = max(16, round(PREVIEW_MAX / zoom))
        h, w = self._image().shape[:2]
        centre = self.crop.center()
        self.set_crop(QRect(centre.x() - side // 2, centre.y() - side // 2, min(side, w), min(side, h)))

    def _preview_finished(self, result: RunResult) -> None:
        if self._preview_crop != self.crop:
            return  # the user moved the preview meanwhile; a new preview is scheduled
        self.preview_result = result.image
        self.last_device = result.device
        self.form.show_resolved(result.resolved)
        self.preview_status.setText(f"Preview: {result.seconds:.2f} s on {result.device}")
        self._show_preview()
        self.preview_ready.emit()

    def _preview_failed(self, message: str) -> None:
        self.last_error = message
        self.preview_status.setText(f"Preview failed: {message}")

    def _preview_done(self) -> None:
        job, self._preview_job = self._preview_job, None
        if job is not None:
            job.deleteLater()
        if self._preview_pending:
            self._preview_pending = False
            self.start_preview()

    def _show_preview(self) -> None:
        if self._pixels is None:
            return
        before, _ = self._crop_arrays()
        shown = before if self.show_before.isChecked() or self.preview_result is None else self.preview_result
        self.preview_view.set_image(to_qimage(np.ascontiguousarray(shown)), self.crop.size())

    def shown_preview(self) -> np.ndarray | None:
        """The pixels the preview currently shows (the original crop until a result arrives)."""
        if self._pixels is None:
            return None
        before, _ = self._crop_arrays()
        return before if self.show_before.isChecked() or self.preview_result is None else self.preview_result

    # -- apply -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while Apply's job runs."""
        return self._apply_job is not None

    def start_apply(self) -> None:
        """Run the filter on the whole image (or selection) in the background."""
        if self._apply_job is not None:
            return
        self._debounce.stop()
        if self._preview_job is not None:
            self._preview_pending = False
            self._preview_job.cancel()
        try:
            options = self.options_form.options()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._show_error(str(exc))
            return
        pixels, mask, plugin_id, params, call = self._image(), self._mask, self.manifest.id, self.params(), self._apply_filter

        def task(report: ReportCallback, cancel: CancelToken) -> RunResult:
            return call(pixels, plugin_id, params, mask=mask, options=options, progress=report, cancel=cancel)

        self.form.setEnabled(False)
        self.options_form.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        job = Job(task, name="clarity-apply", parent=self)
        job.progress.connect(self._apply_progress)
        job.finished.connect(self._apply_finished)
        job.failed.connect(self._apply_failed)
        job.cancelled.connect(self._apply_cancelled)
        job.done.connect(self._apply_done)
        self._apply_job = job.start()

    def _apply_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _apply_finished(self, result: RunResult) -> None:
        self.applied.emit(result)
        self.accept()

    def _apply_failed(self, message: str) -> None:
        self._show_error(message)
        self.failed.emit(message)

    def _apply_cancelled(self) -> None:
        self.preview_status.setText("Cancelled; the image is unchanged.")

    def _apply_done(self) -> None:
        job, self._apply_job = self._apply_job, None
        if job is not None:
            job.deleteLater()
        self.form.setEnabled(True)
        self.options_form.setEnabled(True)
        self.apply_button.setEnabled(True)
        self.progress.setVisible(False)

    def _show_error(self, message: str) -> None:
        self.last_error = message
        QMessageBox.warning(self, "Filter failed", f"{message}\n\nThe image was not changed.")

    # -- closing -----------------------------------------------------------------------------------
    def _cancel_clicked(self) -> None:
        """Cancel a running Apply; without one, close the dialog."""
        if self._apply_job is not None:
            self._apply_job.cancel()
        else:
            self.reject()

    def shutdown(self) -> None:
        """Cancel and join every background job (called before the dialog goes away)."""
        self._debounce.stop()
        self._preview_pending = False
        for job in (self._preview_job, self._apply_job):
            if job is not None:
                job.shutdown()

    @property
    def images_released(self) -> bool:
        """True once :meth:`release_images` ran (the dialog holds no image, mask or preview)."""
        return self._pixels is None and self._mask is None and self.preview_result is None

    def release_images(self) -> None:
        """Stop every job and drop the image, mask and preview (the dialog is closed for good)."""
        self.shutdown()
        self._pixels = None
        self._resolved_cache.clear()
        self._mask = None
        self.preview_result = None
        self.preview_view.clear()


__all__ = ["PREVIEW_DEBOUNCE_MS", "PREVIEW_MAX", "FilterDialog", "preview_crop"]
