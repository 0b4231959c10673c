"""Batch > Process Folder...: run one filter over a folder with :func:`engine.batch.run_batch`.

Input folder (+ recursive), output folder, filter and its parameters (the same
:class:`gui.param_form.ParameterForm` as the filter dialog), strength/device, output format
and name template. Existing files are never overwritten unless "Overwrite" is checked; with it
checked, Start first asks before replacing the files that exist (how many, which folder). While
it runs: overall and per-file progress bars, the current file with the time left, Cancel. At
the end (or after a cancel) the per-file bar and the time left go away, the button says Close,
and the dialog shows a summary, the failures with their reasons (a refused existing file says
how to replace it, in the dialog's words) and every file's warnings (animated GIF: first frame
only; CMYK converted without colour management...), in lists that wrap long lines, and
"Open output folder".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.batch import FAILED, OUTPUT_FORMATS, BatchJob, BatchProgress, BatchReport, FilterStep
from engine.cancel import CancelToken
from engine.core.text import one_line, printable
from gui.devices import gui_words
from gui.job_dialog import JobDialog
from gui.param_form import ParameterForm, RunOptionsForm
from gui.worker import Job, ReportCallback
from plugins.api import PluginInfo

BatchCall = Callable[..., BatchReport]
"""``run_batch``-compatible callable: ``(job, *, progress, cancel) -> BatchReport``."""


def shown_name(path: Path, *, full: bool = False) -> str:
    """A file's name (or whole path with ``full``) safe for a label: control characters, bidi
    overrides and newlines in file names are shown as visible escapes (``\\x0a``, ``\\u202e``)."""
    return printable(str(path) if full else Path(path).name, keep_newlines=False)


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


def _wrapping_list(lines: int) -> QListWidget:
    """A list whose long lines wrap instead of scrolling sideways, ``lines`` rows high at least."""
    view = QListWidget()
    view.setWordWrap(True)
    view.setTextElideMode(Qt.TextElideMode.ElideNone)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setResizeMode(QListWidget.ResizeMode.Adjust)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setMinimumHeight(view.fontMetrics().lineSpacing() * lines + 8)
    view.setVisible(False)
    return view


def existing_outputs(job: BatchJob) -> list[Path]:
    """Planned outputs of ``job`` that already exist (what "Overwrite" would replace)."""
    from engine.batch import plan_batch

    return [out for _src, out in plan_batch(job) if out.exists()]


class BatchDialog(JobDialog):
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
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Input folder", self.input_field)
        form.addRow("", self.recursive)
        form.addRow("Output folder", self.output_field)
        form.addRow("Filter", self.filter_combo)
        form.addRow("Parameters", self.form)
        form.addRow(self.options_form)  # its own labels, full width (never squeezed into the field column)
        form.addRow("Output format", self.format_combo)
        form.addRow("File name", self.name_template)
        form.addRow("", self.overwrite)

        self.overall = QProgressBar()
        self.per_file = QProgressBar()
        self.per_file_label = QLabel("Current file")
        self.current = QLabel("")
        self.current.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.failures_label = QLabel("Failed")
        self.failures = _wrapping_list(6)
        self.warnings_label = QLabel("Warnings")
        self.warnings = _wrapping_list(4)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
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
        layout.addWidget(self.per_file_label)
        layout.addWidget(self.per_file)
        layout.addWidget(self.current)
        layout.addWidget(self.summary)
        layout.addWidget(self.failures_label)
        layout.addWidget(self.failures, 2)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.warnings, 1)
        layout.addLayout(buttons)
        self.setMinimumWidth(560)
        self._show_running(False)
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
        from engine.core.errors import ParameterError

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
        from engine.core.errors import ClarityError

        try:
            job = self.build_job()
        except ClarityError as exc:
            self.summary.setText(f"Cannot start: {exc}")
            return
        if job.overwrite and not self._confirm_overwrite(job):
            return
        call = self._run_batch

        def task(report: ReportCallback, cancel: CancelToken) -> BatchReport:
            return call(job, progress=report, cancel=cancel)

        self.report = None
        for view in (self.failures, self.warnings):
            view.clear()
        self._show_lists()
        self.open_output_button.setEnabled(False)
        self.summary.setText("Running...")
        self.current.setText("")
        self.overall.setRange(0, 1000)
        self.overall.setValue(0)
        self.per_file.setValue(0)
        self.start_button.setEnabled(False)
        self._show_running(True)
        worker = Job(task, name="clarity-batch", parent=self, keep_result_on_cancel=True)
        worker.report.connect(self._progress)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.cancelled.connect(lambda: self.summary.setText("Cancelled; no report."))
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
        name = shown_name(p.current) if p.current else ""
        self.current.setText(f"{p.index + 1}/{p.total} {name}{eta}")

    def _confirm_overwrite(self, job: BatchJob) -> bool:
        """With "Overwrite" ticked: ask before replacing files that exist; False means "do not start"."""
        from engine.core.errors import ClarityError

        try:
            existing = existing_outputs(job)
        except ClarityError as exc:
            self.summary.setText(f"Cannot start: {gui_words(str(exc))}")
            return False
        if not existing:
            return True
        answer = QMessageBox.question(
            self, "Replace existing files?",
            f"{len(existing)} file(s) in {shown_name(job.output_dir, full=True)} already exist (e.g. {shown_name(existing[0])}). Outputs this batch "
            "already made with the same settings are kept; every other one will be replaced, including files you "
            "edited. Replace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            self.summary.setText("Not started: untick \"Overwrite existing files\" to keep them, or choose another output folder.")
            return False
        return True

    def _show_running(self, running: bool) -> None:
        """Per-file bar and Cancel while running; Close and no stale per-file state after."""
        self.per_file_label.setVisible(running)
        self.per_file.setVisible(running)
        self.cancel_button.setText("Cancel" if running else "Close")
        self.cancel_button.setToolTip("Stop after the current tile" if running else "")

    def _show_lists(self) -> None:
        for label, view in ((self.failures_label, self.failures), (self.warnings_label, self.warnings)):
            label.setVisible(view.count() > 0)
            view.setVisible(view.count() > 0)

    def _finished(self, report: BatchReport) -> None:
        self.report = report
        failed = [o for o in report.outcomes if o.status == FAILED]
        refused = [o for o in failed if "already exists" in o.error or "overwrite" in o.error.lower()]  # kept files
        hint = ""
        if refused:
            hint = (f"\n{len(refused)} existing file(s) were kept, not replaced: tick \"Overwrite existing files\" "
                    "to replace them, or choose another output folder or file name.")
        self.summary.setText(report.summary() + hint)
        for outcome in failed:
            self.failures.addItem(f"{shown_name(outcome.source)}: {one_line(gui_words(outcome.error))}")
        for outcome in report.outcomes:
            for warning in outcome.warnings:
                self.warnings.addItem(f"{shown_name(outcome.source)}: {one_line(warning)}")
        self._show_lists()
        done = report.done + report.skipped + report.failed
        self.current.setText(f"Stopped after {done} of {len(report.outcomes)} file(s)." if report.cancelled
                             else f"Finished {len(report.outcomes)} file(s).")
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
        if self.report is None:
            self.current.setText("")  # never a stale "about 20 s left"
        self._show_running(False)

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
