"""``clarity batch IN_DIR OUT_DIR --filter ID [--param N=V ...] [--filter ID2 ...]``.

Runs a folder of images through a chain of filters (see :mod:`engine.batch`). Every
``--param`` belongs to the ``--filter`` before it. Exit codes: 0 every file done or already
complete, 1 some files failed, 130 cancelled (Ctrl+C), 2 usage error.

Nothing heavy is imported at module level (no torch): ``clarity --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from engine.cli.options import add_backend_option, add_run_options, run_options

if TYPE_CHECKING:  # pragma: no cover
    from engine.batch.bench import BatchBenchResult

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


class _FilterAction(argparse.Action):
    """``--filter ID``: start a new step of the chain (kept in ``args.chain``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        chain = list(getattr(namespace, "chain", None) or [])
        chain.append((str(values), []))
        namespace.chain = chain


class _ParamAction(argparse.Action):
    """``--param NAME=VALUE``: a parameter of the latest ``--filter``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        chain = list(getattr(namespace, "chain", None) or [])
        if not chain:
            parser.error(f"--param {values} comes before any --filter; write --filter ID first, then its --param")
        plugin_id, params = chain[-1]
        chain[-1] = (plugin_id, [*params, str(values)])
        namespace.chain = chain


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` subcommand."""
    p = subparsers.add_parser(
        "batch",
        help="run a folder of images through a chain of filters (resumable)",
        description=(
            "Run every image under IN_DIR through the filters and write the results to OUT_DIR "
            "(mirrored folder tree). Re-running skips outputs that are complete and up to date. "
            "Exit code: 0 all ok, 1 some files failed, 130 cancelled, 2 usage error."
        ),
    )
    p.add_argument("input_dir", type=Path, metavar="IN_DIR", help="folder of input images")
    p.add_argument("output_dir", type=Path, metavar="OUT_DIR", help="folder for the results")
    p.add_argument("--filter", action=_FilterAction, metavar="ID", dest="chain_filter",
                   help="plugin id of a filter; repeat for a chain (applied in order)")
    p.add_argument("--param", action=_ParamAction, metavar="NAME=VALUE", dest="chain_param",
                   help="parameter of the preceding --filter (repeatable)")
    p.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True,
                   help="walk sub-folders and mirror them (default: yes)")
    p.add_argument("--format", dest="output_format", choices=("png", "jpeg", "tiff", "webp"), default=None,
                   help="output format (default: keep each input's format)")
    p.add_argument("--name", dest="name_template", default="{stem}{ext}", metavar="TEMPLATE",
                   help="output file name; fields {stem} {ext} {srcext} {name} {plugin} {index} (default: {stem}{ext})")
    p.add_argument("--overwrite", action="store_true",
                   help="allow replacing existing files that this batch did not write, and inputs")
    add_run_options(p)
    add_backend_option(p)
    p.add_argument("--strength", type=float, default=100.0, metavar="0-100",
                   help="blend with the original: 0 unchanged, 100 full filter (default 100)")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="reader and writer threads (default 2)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this process; ray: tasks on a Ray cluster (pip install clarity-studio[distributed])")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join, e.g. ray://head:10001 (default: start a local instance)")
    p.add_argument("--report-dir", type=Path, default=None, metavar="DIR",
                   help="where batch-report.json/.csv go (default: OUT_DIR)")
    p.set_defaults(func=run, chain=None)


def build_job(args: argparse.Namespace) -> Any:
    """The :class:`engine.batch.BatchJob` described by parsed arguments (raises ClarityError)."""
    from engine.batch import BatchJob, FilterStep
    from engine.core.errors import ParameterError
    from plugins.params import parse_param_assignments

    if not args.chain:
        raise ParameterError("no filter given; add --filter ID (see 'clarity list' for the ids)")
    if not 0.0 <= args.strength <= 100.0:
        raise ParameterError(f"--strength {args.strength} is outside 0-100")
    steps = tuple(FilterStep(plugin_id, parse_param_assignments(params)) for plugin_id, params in args.chain)
    options = run_options(args, args.strength / 100.0)
    return BatchJob(
        input_dir=args.input_dir,
        output_dir=args.output_dir,
        steps=steps,
        recursive=args.recursive,
        output_format=args.output_format,
        name_template=args.name_template,
        overwrite=args.overwrite,
        options=options,
        workers=args.workers,
        report_dir=args.report_dir,
    )


def format_eta(seconds: float | None) -> str:
    """``"1:02:03"`` / ``"2:03"`` / ``"--:--"``."""
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TerminalProgress:
    """Draws one updating status line on a terminal (at most 10 times a second)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self._last = 0.0
        self._width = 0

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and p.file_progress is not None:
            return
        self._last = now
        name = p.current.name if p.current is not None else ""
        pct = f"{100 * p.file_progress.fraction:3.0f}%" if p.file_progress is not None else "    "
        line = (f"[{min(p.index + 1, p.total)}/{p.total}] {name[:40]} {pct}  done {p.done} skipped {p.skipped} "
                f"failed {p.failed}  ETA {format_eta(p.eta_seconds)}")
        pad = max(0, self._width - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


def exit_code(report: Any) -> int:
    """0 all ok, 1 some failed (or the report could not be written), 130 cancelled."""
    if report.cancelled:
        return EXIT_CANCELLED
    return EXIT_SOME_FAILED if report.failed or getattr(report, "report_error", "") else EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run the batch; Ctrl+C or SIGTERM cancels after the current tile and still writes the report.

    A second Ctrl+C/SIGTERM aborts at once (temporary files are still removed).
    """
    from engine.batch import run_batch
    from engine.cancel import CancelToken, install_interrupt_handlers, note_interrupt, restore_handlers
    from engine.core.text import one_line

    job = build_job(args)
    token = CancelToken()
    bar = TerminalProgress(sys.stderr)

    def on_signal(signum: int, frame: object) -> None:
        note_interrupt()
        if token.cancelled:  # second Ctrl+C / SIGTERM: give up at once
            raise KeyboardInterrupt
        token.cancel()
        print("\nclarity: cancelling after the current tile (Ctrl+C again to abort)", file=sys.stderr)

    previous = install_interrupt_handlers(on_signal)
    try:
        report = run_batch(job, progress=bar, cancel=token, executor=args.executor, ray_address=args.ray_address)
    finally:
        bar.close()
        restore_handlers(previous)
    for outcome in report.outcomes:
        if outcome.status == "failed":
            print(f"failed: {one_line(outcome.source)}: {one_line(outcome.error)}", file=sys.stderr)
    for line in report.resolved_summary():
        print(f"resolved {one_line(line)}")
    if getattr(report, "report_error", ""):
        print(f"clarity: error: {one_line(report.report_error)}", file=sys.stderr)
    print(report.summary())
    return exit_code(report)


def main(argv: Sequence[str]) -> int:  # pragma: no cover - convenience for `python -m`
    """Run ``clarity batch`` with ``argv`` (without the subcommand name)."""
    from engine.cli.main import main as clarity_main

    return clarity_main(["batch", *argv])


# --- ``clarity bench --batch DIR`` (called from the hooks in engine/cli/bench_cmd.py) ---------


def add_bench_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--batch DIR``, ``--batch-workers N``, ``--batch-limit N`` to the ``bench`` parser."""
    parser.add_argument("--batch", type=Path, default=None, metavar="DIR",
                        help="also time a batch over DIR with the first --filter: images/s with and without "
                             "reader/writer overlap (outputs go to a temporary folder)")
    parser.add_argument("--batch-workers", type=int, default=2, metavar="N",
                        help="reader and writer threads of the overlapped batch run (default 2)")
    parser.add_argument("--batch-limit", type=int, default=None, metavar="N",
                        help="time only the first N images of DIR")


def bench_batch_section(args: argparse.Namespace) -> BatchBenchResult | None:
    """The ``batch`` part of ``clarity bench`` (``None`` without ``--batch``)."""
    if getattr(args, "batch", None) is None:
        return None
    from engine.batch.bench import bench_batch
    from engine.cli.options import parse_params, run_options

    if not args.json:
        print(f"timing a batch over {args.batch} with {args.filter[0]} (serial, then overlapped)...", file=sys.stderr)
    return bench_batch(args.batch, args.filter[0], parse_params(args.param), options=run_options(args),
                       workers=args.batch_workers, limit=args.batch_limit)
