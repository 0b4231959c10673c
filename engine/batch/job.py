"""Frozen value types of a batch run: what to do (:class:`BatchJob`), how it goes
(:class:`BatchProgress`) and what happened (:class:`FileOutcome`, :class:`BatchReport`).

These are the contract shared by the engine (``engine.batch``), the ``clarity batch`` command
and the GUI's batch dialog. Nothing here imports torch or Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

from engine.core.errors import ParameterError
from engine.core.types import Progress, RunOptions

if TYPE_CHECKING:  # pragma: no cover
    from plugins.api import ParamValue
else:
    ParamValue = Union[float, int, bool, str]

OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpeg", "tiff", "webp")
"""Values accepted by :attr:`BatchJob.output_format` (``None`` keeps each input's format)."""

FORMAT_EXTENSIONS: Mapping[str, str] = {"png": ".png", "jpeg": ".jpg", "tiff": ".tif", "webp": ".webp"}
"""File extension written for each output format."""

# FileOutcome.status values
DONE = "done"
SKIPPED_COMPLETE = "skipped-complete"
FAILED = "failed"
CANCELLED = "cancelled"
NOT_STARTED = "not-started"
STATUSES: tuple[str, ...] = (DONE, SKIPPED_COMPLETE, FAILED, CANCELLED, NOT_STARTED)


@dataclass(frozen=True)
class FilterStep:
    """One filter of a chain: plugin id and its parameter values.

    ``params`` may hold strings (from a command line) or typed values; they are validated
    against the plugin's manifest by ``plugins.params.resolve_params`` when the batch plans.
    """

    plugin_id: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.plugin_id:
            raise ParameterError("a filter step needs a plugin id, e.g. --filter denoise")
        # freeze a private copy so the caller cannot mutate the job after the fact
        object.__setattr__(self, "params", dict(self.params))

    def __hash__(self) -> int:
        return hash((self.plugin_id, tuple(sorted((k, str(v)) for k, v in self.params.items()))))


@dataclass(frozen=True)
class BatchJob:
    """A folder of images to run through a chain of filters.

    - ``recursive``: walk sub-folders and mirror the tree under ``output_dir``.
    - ``output_format``: ``None`` keeps each input's format; else one of :data:`OUTPUT_FORMATS`.
    - ``name_template``: output file name; fields ``{stem}``, ``{ext}`` (with dot, of the output
      format), ``{name}`` (input file name), ``{plugin}`` (last step's id), ``{index}``.
    - ``overwrite``: without it, an existing file that is not a complete output of this very
      job (one with our provenance sidecar) is never replaced, and no output may be an input.
    - ``workers``: reader and writer threads around the model (each).
    - ``report_dir``: where ``batch-report.json``/``.csv`` go (default ``output_dir``).
    """

    input_dir: Path
    output_dir: Path
    steps: tuple[FilterStep, ...]
    recursive: bool = True
    output_format: str | None = None
    name_template: str = "{stem}{ext}"
    overwrite: bool = False
    options: RunOptions = RunOptions()
    workers: int = 2
    report_dir: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_dir", Path(self.input_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.report_dir is not None:
            object.__setattr__(self, "report_dir", Path(self.report_dir))
        if not self.steps:
            raise ParameterError("a batch needs at least one filter (--filter ID)")
        if self.output_format is not None:
            fmt = self.output_format.lower().lstrip(".")
            fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt, fmt)
            if fmt not in OUTPUT_FORMATS:
                raise ParameterError(
                    f"output format '{self.output_format}' is not supported; use one of {', '.join(OUTPUT_FORMATS)}"
                )
            object.__setattr__(self, "output_format", fmt)
        if self.workers < 1:
            raise ParameterError(f"workers must be at least 1, got {self.workers}")

    @property
    def effective_report_dir(self) -> Path:
        """The folder that receives the JSON and CSV reports."""
        return self.report_dir if self.report_dir is not None else self.output_dir


@dataclass(frozen=True)
class BatchProgress:
    """Progress of a batch, reported after every tile and every file.

    ``index`` is the 0-based position of ``current`` among ``total`` planned files;
    ``file_progress`` is the tile progress inside it (``None`` between files).
    ``eta_seconds`` is ``None`` until at least one file was computed.
    """

    index: int
    total: int
    current: Path | None
    file_progress: Progress | None
    done: int
    failed: int
    skipped: int
    eta_seconds: float | None

    @property
    def fraction(self) -> float:
        """Overall finished fraction in ``[0, 1]`` (files plus the current file's tiles)."""
        if self.total <= 0:
            return 1.0
        finished = self.done + self.failed + self.skipped
        partial = self.file_progress.fraction if self.file_progress is not None else 0.0
        return min(1.0, (finished + partial) / self.total)


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file.

    ``status`` is one of :data:`STATUSES`; ``error`` is a one-line reason for ``failed``
    (and for ``cancelled``). ``output`` is the planned output path (``None`` if none could be
    planned). ``seconds`` is the wall time spent on this file. ``resolved`` holds the parameter
    values the filters resolved on this image (an ``"auto"`` noise level...), keyed
    ``"PLUGIN.PARAM"``, in chain order. ``warnings`` are one-line notes
    from reading and writing (animated file: first frame only; alpha dropped by JPEG...).
    """

    source: Path
    output: Path | None
    status: str
    seconds: float
    error: str = ""
    warnings: tuple[str, ...] = ()
    resolved: Mapping[str, ParamValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown outcome status {self.status!r}; expected one of {STATUSES}")


@dataclass(frozen=True)
class BatchReport:
    """The result of :func:`engine.batch.run_batch`: one outcome per planned file, in plan order.

    ``stopped_at`` is the file being processed when the batch was cancelled (``None`` if it
    was not). ``json_path`` and ``csv_path`` are the report files; ``report_error`` is empty
    when they were written, else the one-line reason they could not be (the outcomes are
    still complete, and :meth:`summary` says where the outputs are).
    """

    job: BatchJob
    outcomes: tuple[FileOutcome, ...]
    cancelled: bool
    stopped_at: Path | None
    json_path: Path
    csv_path: Path
    report_error: str = ""

    def count(self, status: str) -> int:
        """Number of outcomes with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def done(self) -> int:
        """Files written by this run."""
        return self.count(DONE)

    @property
    def failed(self) -> int:
        """Files that could not be processed (bad input, write error...)."""
        return self.count(FAILED)

    @property
    def skipped(self) -> int:
        """Files skipped because a complete, up-to-date output already existed."""
        return self.count(SKIPPED_COMPLETE)

    @property
    def ok(self) -> bool:
        """True when nothing failed, the batch was not cancelled and the report was written."""
        return self.failed == 0 and not self.cancelled and not self.report_error

    def resolved_summary(self) -> tuple[str, ...]:
        """One line per resolved parameter over the files (the per-file values are in the report).

        Numbers as ``"denoise.noise_level: 3.1 to 25.4 (median 12.0) over 7 files"``, other values
        as counts: ``"denoise.model: camera 5, gaussian 2"``.
        """
        values: dict[str, list[ParamValue]] = {}
        for outcome in self.outcomes:
            for key, value in outcome.resolved.items():
                values.setdefault(key, []).append(value)
        lines = []
        for key, seen in values.items():
            numbers = sorted(float(v) for v in seen if isinstance(v, (int, float)) and not isinstance(v, bool))
            if len(numbers) == len(seen):
                mid = len(numbers) // 2
                median = numbers[mid] if len(numbers) % 2 else (numbers[mid - 1] + numbers[mid]) / 2
                lines.append(f"{key}: {numbers[0]:.1f} to {numbers[-1]:.1f} (median {median:.1f}) over {len(numbers)} files")
            else:
                counts = {str(v): sum(1 for s in seen if str(s) == str(v)) for v in seen}
                lines.append(f"{key}: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
        return tuple(lines)

    def summary(self) -> str:
        """One line: counts and report paths (the CLI's last line); control characters escaped."""
        from engine.core.text import one_line

        text = f"{self.done} done, {self.skipped} skipped (complete), {self.failed} failed"
        if self.cancelled:
            left = self.count(NOT_STARTED) + self.count(CANCELLED)
            text += f"; cancelled at {self.stopped_at} ({left} not processed)"
        if self.report_error:
            return one_line(f"{text}; outputs are in {self.job.output_dir}; the report was NOT written: {self.report_error}")
        return one_line(f"{text}; report: {self.json_path} , {self.csv_path}")
