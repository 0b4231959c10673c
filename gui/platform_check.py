"""``python -m gui.platform_check``: will Qt's xcb (X11) platform plugin load here?

On Linux with a ``DISPLAY`` (and ``QT_QPA_PLATFORM`` not ``offscreen``), runs ``ldd`` on
PySide6's ``plugins/platforms/libqxcb.so`` and prints the exact ``apt-get install`` line for
the missing system libraries. Exit code 0: nothing missing (or nothing to check), 1: missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

LIB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libICE.so.6": "libice6",
    "libSM.so.6": "libsm6",
}
"""Shared library -> Debian/Ubuntu package providing it."""


def xcb_plugin_path() -> Path | None:
    """PySide6's ``libqxcb.so``, or ``None`` when PySide6 or the plugin is absent."""
    try:
        import PySide6
    except ImportError:
        return None
    path = Path(PySide6.__file__).resolve().parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not path.exists():
        path = Path(PySide6.__file__).resolve().parent / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names ``ldd`` reported as ``=> not found``."""
    return sorted(set(re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)))


def apt_command(libraries: list[str]) -> str:
    """The ``apt-get install`` line for ``libraries`` (unknown ones are named in a comment)."""
    packages = sorted({LIB_PACKAGES[lib] for lib in libraries if lib in LIB_PACKAGES})
    unknown = [lib for lib in libraries if lib not in LIB_PACKAGES]
    line = f"sudo apt-get install -y {' '.join(packages)}" if packages else ""
    if unknown:
        line += ("\n" if line else "") + f"# also missing (find the package with `apt-file search`): {' '.join(unknown)}"
    return line


def main() -> int:
    """Check and print; see the module docstring for the exit codes."""
    if not sys.platform.startswith("linux"):
        return 0
    if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal"):
        return 0
    plugin = xcb_plugin_path()
    if plugin is None:
        print("platform check: PySide6's xcb plugin was not found; install the GUI extra: pip install 'clarity-studio[gui]'")
        return 1
    ldd = shutil.which("ldd")
    if ldd is None:
        return 0
    result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, check=False)
    missing = missing_libraries(result.stdout + result.stderr)
    if not missing:
        return 0
    print(f"platform check: Qt's X11 plugin needs system libraries that are missing: {' '.join(missing)}")
    print("Install them with:")
    print(apt_command(missing))
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
