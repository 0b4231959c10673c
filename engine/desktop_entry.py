"""Freedesktop integration for Linux desktops: a launcher entry with the app icon, registered for
the image types Clarity Studio opens (``clarity desktop install|uninstall``).

Files (``DATA`` is ``$XDG_DATA_HOME``, default ``~/.local/share``; a relative value is ignored, as
the XDG base-directory spec says):

- ``DATA/applications/clarity-studio.desktop``: ``Exec`` runs this installation's ``clarity open %f``,
  ``MimeType`` lists :data:`MIME_TYPES`, so file managers offer "Open With Clarity Studio";
- ``DATA/icons/hicolor/scalable/apps/clarity-studio.svg``: the icon from ``resources/icons``.

Contract: files are written to a temporary name and renamed into place; a ``.desktop`` file that
this command did not write (no :data:`MARKER` line) is never overwritten (``force=True`` does) nor
removed. Uninstall removes only our files and reports what it removed. The default application for
a type is not changed (users choose it in their file manager). After either action the desktop
caches are refreshed with ``update-desktop-database`` / ``gtk-update-icon-cache`` when installed.
Qt-free: nothing here imports Qt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.core.atomic import atomic_write_bytes
from engine.core.errors import ClarityError

APP_ID = "clarity-studio"
"""Desktop file id and icon name (also the Qt ``desktopFileName``, so windows match the entry)."""

ICON_SOURCE = Path(__file__).resolve().parent.parent / "resources" / "icons" / f"{APP_ID}.svg"

MIME_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/tiff", "image/webp", "image/bmp", "image/gif")
"""What :func:`engine.io.read_image` reads (GIF: first frame)."""

MARKER = "X-Clarity-Studio-Installer=clarity desktop install"
"""The line that marks an entry as ours (uninstall and reinstall only touch marked entries)."""

_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_QUOTE_ESCAPED = re.compile(r'(["`$\\])')


@dataclass(frozen=True)
class DesktopFiles:
    """Where the entry and the icon go under ``data_home``."""

    data_home: Path

    @property
    def entry(self) -> Path:
        """The ``.desktop`` launcher entry."""
        return self.data_home / "applications" / f"{APP_ID}.desktop"

    @property
    def icon(self) -> Path:
        """The scalable icon in the user's hicolor theme."""
        return self.data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def data_home(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME`` when set to an absolute path, else ``~/.local/share``."""
    env = os.environ if env is None else env
    value = env.get("XDG_DATA_HOME", "")
    if value and Path(value).is_absolute():
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that starts this installation: the ``clarity`` script beside the running
    interpreter (a virtualenv's ``bin``), else ``python -m engine.cli.main``."""
    script = Path(sys.executable).parent / "clarity"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "engine.cli.main"]


def exec_value(argv: Sequence[str]) -> str:
    """``argv`` as an ``Exec`` value: arguments with reserved characters double-quoted (with
    ``"`$\\`` backslash-escaped), ``%`` doubled, then the string-value escaping of ``\\``."""
    parts = []
    for arg in argv:
        if "\n" in arg or "\r" in arg:
            raise ClarityError(f"cannot write a launcher for a path with a line break: {arg!r}; move the installation")
        arg = arg.replace("%", "%%")
        if arg and not _RESERVED.intersection(arg):
            parts.append(arg)
        else:
            parts.append('"' + _QUOTE_ESCAPED.sub(r"\\\1", arg) + '"')
    return " ".join(parts).replace("\\", "\\\\")


def entry_text(command: Sequence[str]) -> str:
    """The ``.desktop`` file for ``command`` (which gets ``open %f`` appended)."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=Clarity Studio",
        "GenericName=Photo Restoration",
        "Comment=Denoise, upscale and remove rain, haze or snow from photos with deep-learning filters",
        f"TryExec={command[0]}".replace("\\", "\\\\") if Path(command[0]).is_absolute() else "",
        f"Exec={exec_value([*command, 'open'])} %f",
        f"Icon={APP_ID}",
        "Terminal=false",
        "StartupNotify=true",
        "StartupWMClass=Clarity Studio",
        "Categories=Graphics;2DGraphics;RasterGraphics;Photography;",
        "MimeType=" + "".join(f"{mime};" for mime in MIME_TYPES),
        "Keywords=photo;image;denoise;upscale;super-resolution;restore;derain;dehaze;",
        MARKER,
    ]
    return "\n".join(line for line in lines if line) + "\n"


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False


def refresh_caches(files: DesktopFiles) -> None:
    """Best effort: rebuild the MIME cache (``mimeinfo.cache``) of ``files.data_home``, and its icon
    cache only when one already exists, with the tools that are installed."""
    hicolor = files.data_home / "icons" / "hicolor"
    commands = [["update-desktop-database", "-q", str(files.entry.parent)]]
    if (hicolor / "icon-theme.cache").exists():  # keep an existing cache fresh; never create one
        commands.append(["gtk-update-icon-cache", "-q", "-t", str(hicolor)])
    for command in commands:
        exe = shutil.which(command[0])
        if exe is not None and Path(command[-1]).is_dir():
            subprocess.run([exe, *command[1:]], capture_output=True, check=False)


def install(files: DesktopFiles, command: Sequence[str] | None = None, *, force: bool = False) -> DesktopFiles:
    """Write the entry and the icon (see the module contract); returns ``files``."""
    if files.entry.exists() and not force and not _is_ours(files.entry):
        raise ClarityError(
            f"{files.entry} exists and was not written by `clarity desktop install`; "
            "move it away or rerun with --force to replace it"
        )
    if not ICON_SOURCE.is_file():
        raise ClarityError(f"the app icon is missing from this installation ({ICON_SOURCE}); reinstall Clarity Studio")
    text = entry_text(list(command) if command is not None else launcher_command())
    for target, data in ((files.icon, ICON_SOURCE.read_bytes()), (files.entry, text.encode("utf-8"))):
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data, overwrite=True)
    refresh_caches(files)
    return files


def uninstall(files: DesktopFiles) -> list[Path]:
    """Remove our entry and icon; returns the paths removed (empty: nothing was installed).

    An entry without :data:`MARKER` is left alone (and reported by ``ClarityError``)."""
    if files.entry.exists() and not _is_ours(files.entry):
        raise ClarityError(f"{files.entry} was not written by `clarity desktop install`; not removing it")
    removed = []
    for path in (files.entry, files.icon):
        if path.exists():
            path.unlink()
            removed.append(path)
    if removed:
        refresh_caches(files)
    return removed
