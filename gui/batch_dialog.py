"""Batch > Process Folder...: run one filter over a folder with :func:`engine.batch.run_batch`.

Input folder (+ recursive), output folder, filter and its parameters (the same
:class:`gui.param_form.ParameterForm` as the filter dialog), strength/device, output format
and name template. Existing files are never overwritten unless "Overwrite" is checked. While
it runs: overall and per-file progress bars, the current file, Cancel. At the end: a summary,
failures with their reasons, and "Open output folder".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.batch import FAILED, OUTPUT_FORMATS, BatchJob, BatchProgress, BatchReport, FilterStep
from engine.cancel import CancelToken
from gui.param_form import ParameterForm, RunOptionsForm
from gui.worker import Job, ReportCallback
from plugins.api import PluginInfo

BatchCall = Callable[..., BatchReport]
"""``run_batch``-compatible callable: ``(job, *, progress, cancel) -> BatchReport``."""


class _FolderField(QWidget):
    """A line edit with a Browse... button."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        self._caption = caption
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self._caption, self.edit.text())
        if folder:
            self.edit.setText(folder)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None


class BatchDialog(QDialog):
    """Configure and run a batch; ``finished_report(BatchReport)`` fires at the end."""

    finished_report = Signal(object)

    def __init__(self, plugins: list[PluginInfo], run_batch: BatchCall, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Process Folder")
        self._run_batch = run_batch
        self._plugins = [p for p in plugins if p.usable and p.manifest is not None]
        self._job: Job | None = None
        self.report: BatchReport | None = None
        self.input_field = _FolderField("Input folder")
        self.recursive = QCheckBox("Include sub-folders")
        self.recursive.setChecked(True)
        self.output_field = _FolderField("Output folder")
        self.filter_combo = QComboBox()
        for info in self._plugins:
            m = info.manifest
            if m is not None:
                self.filter_combo.addItem(f"{m.menu or m.name} ({m.task.value})", info.id)
        self.form = ParameterForm(self._plugins[0].manifest if self._plugins else None)
        self.filter_combo.currentIndexChanged.connect(self._filter_changed)
        self.options_form = RunOptionsForm()
        self.format_combo = QComboBox()
        self.format_combo.addItem("Same as input", None)
        for fmt in OUTPUT_FORMATS:
            self.format_combo.addItem(fmt.upper(), fmt)
        self.name_template = QLineEdit("{stem}{ext}")
        self.name_template.setToolTip("Output file name: {stem}, {ext}, {name}, {plugin}, {index}")
        self.overwrite = QCheckBox("Overwrite existing files")
        self.overwrite.setChecked(False)

        form = QFormLayout()
        form.addRow("Input folder", self.input_field)
        form.addRow("", self.recursive)
        form.addRow("Output folder", self.output_field)
        form.addRow("Filter", self.filter_combo)
        form.addRow("Parameters", self.form)
        form.addRow("", self.options_form)
        form.addRow("Output format", self.format_combo)
        form.addRow("File name", self.name_template)
        form.addRow("", self.overwrite)

        self.overall = QProgressBar()
        self.per_file = QProgressBar()
        self.current = QLabel("")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.failures = QListWidget()
        self.failures.setVisible(False)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_clicked)
        self.open_output_button = QPushButton("Open output folder")
        self.open_output_button.setEnabled(False)
        self.open_output_button.clicked.connect(self.open_output_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_output_button)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Overall"))
        layout.addWidget(self.overall)
        layout.addWidget(QLabel("Current file"))
        layout.addWidget(self.per_file)
        layout.addWidget(self.current)
        layout.addWidget(self.summary)
        layout.addWidget(self.failures)
        layout.addLayout(buttons)
        if not self._plugins:
            self.start_button.setEnabled(False)
            self.summary.setText("No usable filter: install or train a plugin first (Help > Plugins...).")

    def _filter_changed(self) -> None:
        info = self._plugins[self.filter_combo.currentIndex()] if self._plugins else None
        self.form.set_manifest(info.manifest if info else None)

    # -- run ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._job is not None

    def build_job(self) -> BatchJob:
        """The :class:`BatchJob` described by the form (raises ``ClarityError`` on bad input)."""
        from engine.errors import ParameterError

        src, dst = self.input_field.path(), self.output_field.path()
        if src is None:
            raise ParameterError("choose an input folder")
        if dst is None:
            raise ParameterError("choose an output folder")
        plugin_id = self.filter_combo.currentData()
        if plugin_id is None:
            raise ParameterError("choose a filter")
        return BatchJob(
            input_dir=src,
            output_dir=dst,
            steps=(FilterStep(plugin_id, self.form.values()),),
            recursive=self.recursive.isChecked(),
            output_format=self.format_combo.currentData(),
            name_template=self.name_template.text().strip() or "{stem}{ext}",
            overwrite=self.overwrite.isChecked(),
            options=self.options_form.options(),
        )

    def start(self) -> None:
        """Validate the form and start the batch in the background."""
        if self._job is not None:
            return
        from engine.errors import ClarityError

        try:
            job = self.build_job()
        except ClarityError as exc:
            self.summary.setText(f"Cannot start: {exc}")
            return
        call = self._run_batch

        def task(report: ReportCallback, cancel: CancelToken) -> BatchReport:
            return call(job, progress=report, cancel=cancel)

        self.report = None
        self.failures.clear()
        self.failures.setVisible(False)
        self.open_output_button.setEnabled(False)
        self.summary.setText("Running...")
        self.start_button.setEnabled(False)
        self.overall.setValue(0)
        self.per_file.setValue(0)
        worker = Job(task, name="clarity-batch", parent=self, keep_result_on_cancel=True)
        worker.report.connect(self._progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.cancelled.connect(lambda: self.summary.setText("Cancelled."))
        worker.done.connect(self._done)
        self._job = worker.start()

    def _progress(self, p: object) -> None:
        if not isinstance(p, BatchProgress):
            return
        self.overall.setRange(0, 1000)
        self.overall.setValue(round(p.fraction * 1000))
        fp = p.file_progress
        self.per_file.setRange(0, max(1, fp.total) if fp else 1)
        self.per_file.setValue(fp.done if fp else 0)
        eta = f", about {p.eta_seconds:.0f} s left" if p.eta_seconds is not None else ""
        name = p.current.name if p.current else ""
        self.current.setText(f"{p.index + 1}/{p.total} {name}{eta}")

    def _finished(self, report: BatchReport) -> None:
        self.report = report
        self.summary.setText(report.summary())
        failed = [o for o in report.outcomes if o.status == FAILED]
        for outcome in failed:
            self.failures.addItem(f"{outcome.source.name}: {outcome.error}")
        self.failures.setVisible(bool(failed))
        self.overall.setRange(0, 1000)
        self.overall.setValue(1000 if not report.cancelled else self.overall.value())
        self.open_output_button.setEnabled(True)
        self.finished_report.emit(report)

    def _failed(self, message: str) -> None:
        self.summary.setText(f"Batch failed: {message}")

    def _done(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.deleteLater()
        self.start_button.setEnabled(True)

    def open_output_folder(self) -> None:
        """Show the output folder in the file manager."""
        folder = self.output_field.path()
        if folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- closing -------------------------------------------------------------------------------
    def _cancel_clicked(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.summary.setText("Cancelling after the current tile...")
        else:
            self.reject()

    def shutdown(self) -> None:
        """Cancel and join the running batch, if any."""
        if self._job is not None:
            self._job.shutdown()

    def done(self, result: int) -> None:  # noqa: D401 - Qt API
        self.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)
