"""Will a Qt window platform start here? Checked *before* Qt is touched, so a missing system
library becomes one line that fixes it instead of Qt's abort.

``python -m gui.platform_check`` prints the diagnosis; ``gui.app.run_app`` calls
:func:`prepare_platform` before creating the ``QApplication``.

What is checked, per Linux platform (``xcb`` = X11, ``wayland``):

- the platform plugin with ``ldd`` (every shared library it links, transitively);
- the plugins Qt ``dlopen``\\ s later for that platform (X11 GL integrations, the Wayland
  ``xdg-shell`` integration), with ``ldd`` too: ``ldd`` of the platform plugin cannot see them;
- the system libraries Qt loads *by name* at run time (``QLibrary``/``dlopen``), e.g.
  ``libxcb-cursor.so.0`` for xcb since Qt 6.5: they are probed with a real ``dlopen``;
- that a display is configured (``DISPLAY`` / ``WAYLAND_DISPLAY``) and answers a connection.

Contract of :func:`prepare_platform`: with ``QT_QPA_PLATFORM`` already set by the user, or not on
Linux, it does nothing. Otherwise it tries the platforms in Qt's order (Wayland first when
``WAYLAND_DISPLAY`` is set or the session is Wayland, X11 first elsewhere); when the first cannot
start but another can, it sets
``QT_QPA_PLATFORM`` to that one and returns a note saying what was tried; when none can start it
raises :class:`~engine.core.errors.ClarityError` whose one-line message names every missing library
and ends with the ``apt-get install`` line that installs them.

Exit codes of ``python -m gui.platform_check``: 0 the app can start (or nothing to check), 1 it
cannot (the reason and the fix are printed).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import ClarityError

LIB_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-util.so.1": "libxcb-util1",
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
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libICE.so.6": "libice6",
    "libSM.so.6": "libsm6",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
"""Shared library -> Debian/Ubuntu package providing it."""


@dataclass(frozen=True)
class PlatformSpec:
    """What Qt needs to start one window platform on Linux.

    ``plugin`` and ``runtime_plugins`` are relative to PySide6's ``Qt/plugins`` folder; a runtime
    plugin absent from the wheel is skipped. ``runtime_libraries`` are sonames Qt ``dlopen``\\ s by
    name (``ldd`` never lists them). ``display_env`` names the variable that points at the server.
    """

    name: str
    label: str
    plugin: str
    runtime_plugins: tuple[str, ...]
    runtime_libraries: tuple[str, ...]
    display_env: str


XCB = PlatformSpec(
    name="xcb",
    label="X11 (xcb)",
    plugin="platforms/libqxcb.so",
    runtime_plugins=(
        "xcbglintegrations/libqxcb-glx-integration.so",
        "xcbglintegrations/libqxcb-egl-integration.so",
    ),
    # Qt >= 6.5 probes libxcb-cursor with QLibrary before it loads the xcb plugin.
    runtime_libraries=("libxcb-cursor.so.0",),
    display_env="DISPLAY",
)
WAYLAND = PlatformSpec(
    name="wayland",
    label="Wayland",
    plugin="platforms/libqwayland.so",
    # Without a shell integration no window can be shown; xdg-shell is Qt's default.
    runtime_plugins=("wayland-shell-integration/libxdg-shell.so",),
    runtime_libraries=(),
    display_env="WAYLAND_DISPLAY",
)


@dataclass(frozen=True)
class PlatformReport:
    """Whether ``spec`` can start: ``problem`` is empty when it can; ``missing`` lists the missing
    system libraries (sonames, sorted) when that is the reason."""

    spec: PlatformSpec
    missing: tuple[str, ...] = ()
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing stops this platform."""
        return not self.problem


@dataclass(frozen=True)
class PlatformChoice:
    """Outcome of :func:`choose_platform`: ``platform`` to force (``None``: leave Qt's default),
    ``reports`` in the order tried, ``note`` (a line for the user, may be empty), ``error`` (the
    one-line reason nothing can start; empty when something can)."""

    platform: str | None
    reports: tuple[PlatformReport, ...] = field(default_factory=tuple)
    note: str = ""
    error: str = ""


def qt_plugins_dir() -> Path | None:
    """PySide6's ``Qt/plugins`` folder, found without importing PySide6 (``None`` if absent)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root / "Qt" / "plugins", root / "plugins"):
        if candidate.is_dir():
            return candidate
    return None


def xcb_plugin_path() -> Path | None:
    """PySide6's ``libqxcb.so``, or ``None`` when PySide6 or the plugin is absent."""
    plugins = qt_plugins_dir()
    path = plugins / XCB.plugin if plugins is not None else None
    return path if path is not None and path.exists() else None


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names ``ldd`` reported as ``=> not found``."""
    return sorted(set(re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)))


def ldd_missing(path: Path) -> list[str]:
    """Libraries ``path`` links (transitively) that the loader cannot find; ``[]`` without ``ldd``."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    result = subprocess.run([ldd, str(path)], capture_output=True, text=True, check=False)
    return missing_libraries(result.stdout + result.stderr)


def can_dlopen(soname: str) -> bool:
    """True when the dynamic loader finds and loads ``soname`` (what Qt's ``QLibrary`` does)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def display_answers(spec: PlatformSpec, env: Mapping[str, str]) -> str:
    """Empty when the display server of ``spec`` accepts a connection, else the reason (one clause).

    Uses ``xcb_connect`` / ``wl_display_connect`` from the system libraries; when they cannot be
    loaded the answer is empty (the missing library is reported by the library check instead).
    """
    target = env.get(spec.display_env, "")
    try:
        if spec.name == "xcb":
            lib = ctypes.CDLL("libxcb.so.1")
            lib.xcb_connect.restype = ctypes.c_void_p
            lib.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
            lib.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
            lib.xcb_disconnect.argtypes = [ctypes.c_void_p]
            conn = lib.xcb_connect(target.encode(), None)
            failed = lib.xcb_connection_has_error(conn) != 0
            lib.xcb_disconnect(conn)
        else:
            lib = ctypes.CDLL("libwayland-client.so.0")
            lib.wl_display_connect.restype = ctypes.c_void_p
            lib.wl_display_connect.argtypes = [ctypes.c_char_p]
            lib.wl_display_disconnect.argtypes = [ctypes.c_void_p]
            conn = lib.wl_display_connect(target.encode() or None)
            failed = not conn
            if conn:
                lib.wl_display_disconnect(conn)
    except OSError:
        return ""
    return f"cannot connect to the display {spec.display_env}={target}" if failed else ""


def check_platform(
    spec: PlatformSpec,
    env: Mapping[str, str],
    plugins_dir: Path | None,
    *,
    ldd: Callable[[Path], list[str]] = ldd_missing,
    probe: Callable[[str], bool] = can_dlopen,
    connect: Callable[[PlatformSpec, Mapping[str, str]], str] = display_answers,
) -> PlatformReport:
    """Whether ``spec`` can start under ``env`` (libraries first, then the display)."""
    if not display_configured(spec, env):
        return PlatformReport(spec, problem=f"{spec.display_env} is not set")
    plugin = plugins_dir / spec.plugin if plugins_dir is not None else None
    if plugin is None or not plugin.exists():
        return PlatformReport(spec, problem=f"PySide6 has no {spec.name} plugin (pip install 'clarity-studio[gui]')")
    missing = set(ldd(plugin))
    for extra in spec.runtime_plugins:
        if (plugins_dir / extra).exists():
            missing.update(ldd(plugins_dir / extra))
    missing.update(lib for lib in spec.runtime_libraries if lib not in missing and not probe(lib))
    if missing:
        names = tuple(sorted(missing))
        return PlatformReport(spec, missing=names, problem=f"missing system libraries {' '.join(names)}")
    reason = connect(spec, env)
    return PlatformReport(spec, problem=reason) if reason else PlatformReport(spec)


def apt_command(libraries: list[str]) -> str:
    """The ``apt-get install`` line for ``libraries`` (unknown ones are named in a comment line)."""
    packages = sorted({LIB_PACKAGES[lib] for lib in libraries if lib in LIB_PACKAGES})
    unknown = [lib for lib in libraries if lib not in LIB_PACKAGES]
    line = f"sudo apt-get install -y {' '.join(packages)}" if packages else ""
    if unknown:
        line += (
            "\n" if line else ""
        ) + f"# also missing (find the package with `apt-file search`): {' '.join(unknown)}"
    return line


def fix_clause(libraries: Sequence[str], *, apt: bool | None = None) -> str:
    """How to install ``libraries``, as one clause: the ``apt-get install`` line (unknown libraries
    named after it), or the Debian/Ubuntu package names when ``apt`` (default: ``apt-get`` is on
    ``PATH``) is false."""
    apt = shutil.which("apt-get") is not None if apt is None else apt
    if not apt:
        packages = sorted({LIB_PACKAGES.get(lib, lib) for lib in libraries})
        return f"install your distribution's packages providing them (Debian/Ubuntu names: {' '.join(packages)})"
    return "; ".join(part.lstrip("# ") for part in apt_command(list(libraries)).splitlines())


def _wayland_session(env: Mapping[str, str]) -> bool:
    return bool(env.get("WAYLAND_DISPLAY")) or env.get("XDG_SESSION_TYPE", "").lower() == "wayland"


def display_configured(spec: PlatformSpec, env: Mapping[str, str]) -> bool:
    """True when ``env`` points ``spec`` at a server (Wayland: ``WAYLAND_DISPLAY``, or a Wayland
    session whose default socket Qt would use)."""
    return _wayland_session(env) if spec is WAYLAND else bool(env.get(spec.display_env))


def platform_order(env: Mapping[str, str]) -> tuple[PlatformSpec, ...]:
    """The platforms in the order Qt 6 tries them: Wayland first when ``WAYLAND_DISPLAY`` is set or
    the session is Wayland, else X11 (checked with PySide6 6.12: with both displays Qt picks Wayland)."""
    return (WAYLAND, XCB) if _wayland_session(env) else (XCB, WAYLAND)


def _tried(reports: Sequence[PlatformReport]) -> str:
    return "; ".join(f"{r.spec.label}: {r.problem}" for r in reports)


def _missing(reports: Sequence[PlatformReport]) -> list[str]:
    return sorted({lib for r in reports for lib in r.missing})


def choose_platform(
    env: Mapping[str, str],
    plugins_dir: Path | None,
    check: Callable[[PlatformSpec], PlatformReport] | None = None,
) -> PlatformChoice:
    """Decide the platform (see the module docstring); ``check`` defaults to :func:`check_platform`."""
    if check is None:

        def check(spec: PlatformSpec) -> PlatformReport:
            return check_platform(spec, env, plugins_dir)

    reports: list[PlatformReport] = []
    for position, spec in enumerate(platform_order(env)):
        report = check(spec)
        reports.append(report)
        if report.ok:
            if position == 0:
                return PlatformChoice(None, tuple(reports))
            missing = _missing(reports)
            note = f"{_tried(reports[:-1])}; using {spec.label} instead"
            if missing:
                note += f" (to fix {reports[0].spec.label}: {fix_clause(missing)})"
            return PlatformChoice(spec.name, tuple(reports), note=note)
    missing = _missing(reports)
    if missing:
        error = f"{_tried(reports)}. Fix: {fix_clause(missing)}"
    elif not any(display_configured(r.spec, env) for r in reports):
        error = (
            "no display (neither DISPLAY nor WAYLAND_DISPLAY is set); run it in a desktop session, "
            "or set QT_QPA_PLATFORM=offscreen for a headless run"
        )
    else:
        error = _tried(reports)
    return PlatformChoice(None, tuple(reports), error=error)


def needs_check(env: Mapping[str, str]) -> bool:
    """True on Linux when the user did not choose a Qt platform (``QT_QPA_PLATFORM`` unset)."""
    return sys.platform.startswith("linux") and not env.get("QT_QPA_PLATFORM")


def prepare_platform(env: os._Environ | dict[str, str] | None = None) -> str:
    """Make sure Qt will find a platform that starts; see the module docstring for the contract.

    Returns the note to show (empty when nothing needed saying); sets ``QT_QPA_PLATFORM`` in
    ``env`` (default ``os.environ``) when falling back; raises ``ClarityError`` when nothing can start.
    """
    env = os.environ if env is None else env
    if not needs_check(env):
        return ""
    choice = choose_platform(env, qt_plugins_dir())
    if choice.error:
        raise ClarityError(f"the desktop app cannot start: {choice.error}")
    if choice.platform is not None:
        env["QT_QPA_PLATFORM"] = choice.platform
    return choice.note


def main() -> int:
    """Check and print; see the module docstring for the exit codes."""
    if not needs_check(os.environ):
        return 0
    choice = choose_platform(os.environ, qt_plugins_dir())
    if choice.error:
        print(f"platform check: the desktop app cannot start: {choice.error}")
        return 1
    print(f"platform check: {choice.note}" if choice.note else "platform check: ok")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
