"""``clarity desktop install|uninstall``: the launcher entry, icon and image-type registration on
Linux desktops (freedesktop; see :mod:`engine.desktop_entry`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.desktop_entry import DesktopFiles


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``desktop`` subcommand and its actions."""
    p = subparsers.add_parser("desktop", help="add/remove the Linux launcher entry and 'Open With' for images")
    actions = p.add_subparsers(dest="desktop_action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="launcher entry + icon in $XDG_DATA_HOME, registered for images")
    install.add_argument("--force", action="store_true", help="replace a clarity-studio.desktop we did not write")
    install.set_defaults(func=run_install)
    uninstall = actions.add_parser("uninstall", help="remove what `clarity desktop install` added")
    uninstall.set_defaults(func=run_uninstall)


def _files() -> DesktopFiles:
    from engine.core.errors import ClarityError
    from engine.desktop_entry import DesktopFiles, data_home

    if not sys.platform.startswith("linux"):
        raise ClarityError(
            "`clarity desktop` is for Linux desktops; on Windows and macOS start the app with `clarity` (see README)"
        )
    return DesktopFiles(data_home())


def run_install(args: argparse.Namespace) -> int:
    """Install and print what was written."""
    from engine.desktop_entry import MIME_TYPES, install

    files = install(_files(), force=args.force)
    print(f"installed {files.entry}")
    print(f"installed {files.icon}")
    print(f"Clarity Studio is in your applications menu and in 'Open With' for {', '.join(MIME_TYPES)}")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    """Uninstall and print what was removed."""
    from engine.desktop_entry import uninstall

    removed = uninstall(_files())
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("nothing to remove: the desktop entry is not installed")
    return 0
