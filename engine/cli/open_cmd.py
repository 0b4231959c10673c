"""``clarity open [FILE]``: start the desktop app (also what plain ``clarity`` does)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``open`` subcommand."""
    p = subparsers.add_parser("open", help="open the desktop app, optionally on FILE")
    p.add_argument("file", nargs="?", type=Path, help="image to open")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Launch the GUI; its import is deferred so the engine never depends on Qt."""
    from engine.core.errors import ClarityError

    try:
        from gui.app import run_app
    except ImportError as exc:
        raise ClarityError(
            f"the desktop app cannot start: {exc}. Install it with `pip install clarity-studio[gui]` (or `make run`)."
        ) from exc
    return run_app(args.file)
