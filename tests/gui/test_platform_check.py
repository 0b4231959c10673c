"""The platform check: libraries Qt links *and* loads at run time, the Wayland fallback, the
one-line error. Qt is never started here: the check runs before any QApplication exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from gui import platform_check as pc
from gui.platform_check import WAYLAND, XCB, PlatformReport, PlatformSpec

ABSENT = "libclarity-absent-test.so.0"
REPO = Path(__file__).resolve().parents[2]


def _plugins(tmp_path: Path, *files: str) -> Path:
    """A fake ``Qt/plugins`` folder holding ``files`` (each a copy of a real system library)."""
    real = next(p for p in (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/libz.so.1")) if p.exists())
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real, tmp_path / name)
    return tmp_path


def _no_server(spec: PlatformSpec, env: object) -> str:
    return ""


def test_dlopen_probe_is_a_real_dlopen() -> None:
    assert pc.can_dlopen("libc.so.6") is True
    assert pc.can_dlopen(ABSENT) is False


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None, reason="needs Linux ldd")
def test_a_library_only_dlopen_needs_is_reported_with_real_ldd_and_dlopen(tmp_path: Path) -> None:
    plugins = _plugins(tmp_path, XCB.plugin)
    spec = replace(XCB, runtime_plugins=(), runtime_libraries=("libc.so.6", ABSENT))
    assert pc.ldd_missing(plugins / XCB.plugin) == []  # ldd sees nothing wrong...
    report = pc.check_platform(spec, {"DISPLAY": ":1"}, plugins, connect=_no_server)
    assert report.missing == (ABSENT,)  # ...the run-time probe does
    assert report.problem == f"missing system libraries {ABSENT}"


def test_missing_xcb_cursor_is_named_when_ldd_lists_nothing(tmp_path: Path) -> None:
    """The issue's machine: every linked library present, ``libxcb-cursor.so.0`` absent (Qt
    ``dlopen``s it), the other two missing ones only visible to ``ldd``."""
    plugins = _plugins(tmp_path, XCB.plugin)

    def probe(soname: str) -> bool:
        return soname != "libxcb-cursor.so.0" and pc.can_dlopen(soname)

    def ldd(path: Path) -> list[str]:
        return ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]

    env = {"DISPLAY": ":1"}
    report = pc.check_platform(XCB, env, plugins, ldd=ldd, probe=probe, connect=_no_server)
    assert report.missing == ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    choice = pc.choose_platform(env, plugins, check=lambda s: report if s is XCB else PlatformReport(s, problem="off"))
    assert choice.error.endswith("Fix: sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")
    assert "\n" not in choice.error


def test_plugins_qt_loads_later_are_checked_too(tmp_path: Path) -> None:
    plugins = _plugins(tmp_path, WAYLAND.plugin, *WAYLAND.runtime_plugins)
    shell = plugins / WAYLAND.runtime_plugins[0]

    def ldd(path: Path) -> list[str]:
        return ["libwayland-cursor.so.0"] if path == shell else []

    report = pc.check_platform(WAYLAND, {"WAYLAND_DISPLAY": "wayland-0"}, plugins, ldd=ldd, connect=_no_server)
    assert report.missing == ("libwayland-cursor.so.0",)


def test_check_order_display_then_plugin_then_server(tmp_path: Path) -> None:
    assert pc.check_platform(XCB, {}, tmp_path).problem == "DISPLAY is not set"
    assert pc.check_platform(XCB, {"DISPLAY": ":1"}, tmp_path).problem.startswith("PySide6 has no xcb plugin")
    plugins = _plugins(tmp_path, XCB.plugin)
    report = pc.check_platform(
        XCB, {"DISPLAY": ":1"}, plugins, ldd=lambda p: [], probe=lambda s: True, connect=lambda s, e: "refused"
    )
    assert (report.ok, report.problem) == (False, "refused")
    ok = pc.check_platform(XCB, {"DISPLAY": ":1"}, plugins, ldd=lambda p: [], probe=lambda s: True, connect=_no_server)
    assert ok.ok


@pytest.mark.skipif(not pc.can_dlopen("libxcb.so.1"), reason="libxcb1 not installed")
def test_x_server_probe_reports_a_display_nobody_serves() -> None:
    assert pc.display_answers(XCB, {"DISPLAY": ":4242"}) == "cannot connect to the display DISPLAY=:4242"


def _fake(problems: dict[str, tuple[str, tuple[str, ...]]]) -> Callable[[PlatformSpec], PlatformReport]:
    def check(spec: PlatformSpec) -> PlatformReport:
        problem, missing = problems.get(spec.name, ("", ()))
        return PlatformReport(spec, missing=missing, problem=problem)

    return check


def test_a_broken_x11_does_not_matter_when_wayland_is_there() -> None:
    """Qt 6 tries Wayland first whenever WAYLAND_DISPLAY is set: X11 is not even checked."""
    seen: list[str] = []

    def check(spec: PlatformSpec) -> PlatformReport:
        seen.append(spec.name)
        return _fake({"xcb": ("missing system libraries libxcb-cursor.so.0", ("libxcb-cursor.so.0",))})(spec)

    choice = pc.choose_platform({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, None, check=check)
    assert (choice.platform, choice.note, choice.error, seen) == (None, "", "", ["wayland"])


@pytest.mark.parametrize(
    "env",
    [
        {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"},
        {"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"},  # Qt uses the default socket, wayland-0
    ],
)
def test_falls_back_to_x11_when_wayland_cannot_start_and_says_what_was_tried(env: dict[str, str]) -> None:
    assert pc.choose_platform(env, None, check=_fake({})).platform is None  # Qt's own choice works
    check = _fake({"wayland": ("missing system libraries libwayland-cursor.so.0", ("libwayland-cursor.so.0",))})
    choice = pc.choose_platform(env, None, check=check)
    assert choice.platform == "xcb"
    assert choice.error == ""
    assert choice.note == (
        "Wayland: missing system libraries libwayland-cursor.so.0; using X11 (xcb) instead "
        "(to fix Wayland: sudo apt-get install -y libwayland-cursor0)"
    )


def test_wayland_session_without_wayland_display_is_checked_on_the_default_socket(tmp_path: Path) -> None:
    plugins = _plugins(tmp_path, WAYLAND.plugin)
    report = pc.check_platform(
        WAYLAND, {"XDG_SESSION_TYPE": "wayland"}, plugins, ldd=lambda p: [], connect=lambda s, e: "no socket"
    )
    assert report.problem == "no socket"  # got past the display gate to the connection


def test_nothing_can_start_one_line_with_every_missing_library_and_the_fix() -> None:
    check = _fake(
        {
            "xcb": ("missing system libraries libxcb-icccm.so.4", ("libxcb-icccm.so.4",)),
            "wayland": ("missing system libraries libweird.so.9", ("libweird.so.9",)),
        }
    )
    choice = pc.choose_platform({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w"}, None, check=check)
    assert choice.platform is None
    assert choice.error == (
        "Wayland: missing system libraries libweird.so.9; X11 (xcb): missing system libraries libxcb-icccm.so.4. "
        "Fix: sudo apt-get install -y libxcb-icccm4; also missing (find the package with `apt-file search`): "
        "libweird.so.9"
    )


def test_no_display_at_all() -> None:
    choice = pc.choose_platform({}, None, check=lambda s: pc.check_platform(s, {}, None))
    assert choice.error.startswith("no display (neither DISPLAY nor WAYLAND_DISPLAY is set)")


def test_fix_without_apt_names_the_debian_packages() -> None:
    assert pc.fix_clause(["libxcb-cursor.so.0", "libfoo.so.1"], apt=False) == (
        "install your distribution's packages providing them (Debian/Ubuntu names: libfoo.so.1 libxcb-cursor0)"
    )


def test_prepare_platform_sets_the_fallback_and_respects_the_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pc.sys, "platform", "linux")
    monkeypatch.setattr(pc, "check_platform", lambda spec, env, plugins: _fake({"wayland": ("down", ())})(spec))
    env = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}
    assert pc.prepare_platform(env) == "Wayland: down; using X11 (xcb) instead"
    assert env["QT_QPA_PLATFORM"] == "xcb"
    chosen = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}
    assert pc.prepare_platform(chosen) == "" and chosen == {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}
    both_down = _fake({"xcb": ("down", ()), "wayland": ("WAYLAND_DISPLAY is not set", ())})
    monkeypatch.setattr(pc, "check_platform", lambda spec, env, plugins: both_down(spec))
    with pytest.raises(pc.ClarityError) as raised:
        pc.prepare_platform({"DISPLAY": ":0"})
    assert str(raised.value) == "the desktop app cannot start: X11 (xcb): down; Wayland: WAYLAND_DISPLAY is not set"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux platform check")
def test_clarity_open_without_a_usable_display_prints_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":4242", PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "open"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("clarity: error: the desktop app cannot start: X11 (xcb): ")
    assert "Wayland: WAYLAND_DISPLAY is not set" in lines[0]


def test_app_carries_the_icon_and_the_desktop_file_id(qapp) -> None:
    from gui.app import create_application

    app = create_application()
    assert app.desktopFileName() == "clarity-studio"  # what `clarity desktop install` names the entry
    assert not app.windowIcon().isNull()
    assert app.windowIcon().pixmap(64, 64).width() == 64
