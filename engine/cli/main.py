"""The ``clarity`` command: a thin dispatcher over one module per subcommand.

Each subcommand lives in ``engine/cli/<name>_cmd.py`` and exposes::

    def register(subparsers: argparse._SubParsersAction) -> None   # adds its parser, sets func=run
    def run(args: argparse.Namespace) -> int                     # exit code

Subcommand modules import nothing heavy at module level (no torch, no Qt), so
``clarity --help`` and ``clarity list`` start fast. Every :class:`ClarityError` becomes one
line on stderr (control characters escaped, see :mod:`engine.core.text`) and exit code 2; Ctrl+C
and SIGTERM become ``KeyboardInterrupt`` (so temporary files are cleaned up) and exit code 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine.core.errors import ClarityError

SUBCOMMANDS: tuple[str, ...] = (
    "open",
    "list",
    "apply",
    "batch",
    "bench",
    "plugin",
    "synth",
    "train",
    "distill",
    "eval",
    "export",
    "fuzz",
    "desktop",
)
"""Subcommand module names, in ``--help`` order (module ``engine.cli.<name>_cmd``)."""

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; subcommands whose module is absent are skipped."""
    parser = argparse.ArgumentParser(
        prog="clarity",
        description="Clarity Studio: deep-learning photo restoration (desktop app and command line).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"engine.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"engine.cli.{name}_cmd":
                continue
            raise
        module.register(sub)
    return parser


def _innermost_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)subcommand ``args`` chose, e.g. ``clarity plugin new``'s; ``parser`` if none."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = getattr(args, action.dest, None)
            if chosen in action.choices:
                return _innermost_parser(action.choices[chosen], args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clarity`` console script; returns the exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if unknown:
        # argparse reports a subcommand's unknown options with the top-level usage, which does not
        # show what the subcommand accepts: report them with the subcommand's own usage (exit code 2).
        _innermost_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        args = parser.parse_args(["open"])
    from engine.cancel import install_interrupt_handlers, restore_handlers
    from engine.core.text import one_line

    # the app handles its own signals
    previous = install_interrupt_handlers() if args.command != "open" else {}
    try:
        return int(args.func(args))
    except ClarityError as exc:
        print(f"clarity: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("clarity: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        restore_handlers(previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
