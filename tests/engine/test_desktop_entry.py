"""``clarity desktop install|uninstall`` in a temporary XDG data folder: the entry's keys, its
validity (``desktop-file-validate`` when installed), MIME registration as a file manager sees it
(``gio mime`` when installed), never clobbering a file we did not write."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main as clarity
from engine.desktop_entry import ICON_SOURCE, MIME_TYPES, DesktopFiles, data_home, entry_text, exec_value, install

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="freedesktop entries are Linux-only")


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary ``$XDG_DATA_HOME``."""
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_install_writes_entry_and_icon_under_xdg_data_home(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert clarity(["desktop", "install"]) == 0
    entry_path = xdg / "applications" / "clarity-studio.desktop"
    icon = xdg / "icons" / "hicolor" / "scalable" / "apps" / "clarity-studio.svg"
    assert icon.read_bytes() == ICON_SOURCE.read_bytes()
    entry = _entry(entry_path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Clarity Studio"
    assert entry["Icon"] == "clarity-studio"
    assert entry["MimeType"] == "image/jpeg;image/png;image/tiff;image/webp;image/bmp;image/gif;"
    assert entry["Exec"].endswith(" open %f")
    launcher = entry["Exec"].removesuffix(" open %f").split(" ")[0]
    assert Path(launcher).is_absolute() and Path(launcher).exists()
    assert f"installed {entry_path}" in capsys.readouterr().out
    assert not [p for p in entry_path.parent.iterdir() if p.name.startswith(".~")]  # no temporary left


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_entry_passes_desktop_file_validate(xdg: Path) -> None:
    files = install(DesktopFiles(xdg), ["/opt/Clarity Studio/bin/clarity"])
    result = subprocess.run(["desktop-file-validate", str(files.entry)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _gio_mime(data_home: Path, mime: str) -> str:
    """``gio mime MIME`` as a file manager would run it with only ``data_home`` as XDG data."""
    env = {
        "HOME": str(data_home),
        "XDG_DATA_HOME": str(data_home),
        "XDG_DATA_DIRS": str(data_home / "none"),
        "XDG_CONFIG_HOME": str(data_home / "config"),
        "PATH": os.environ.get("PATH", ""),
    }
    return subprocess.run(["gio", "mime", mime], env=env, capture_output=True, text=True, check=False).stdout


@pytest.mark.skipif(shutil.which("gio") is None, reason="gio (libglib2.0-bin) not installed")
def test_file_managers_see_clarity_for_every_image_type(xdg: Path, tmp_path: Path) -> None:
    # control: a minimal valid entry in its own data folder. Some machines' gio registers no
    # application at all (seen on a Debian 12 image whose shared-mime-info database was never
    # compiled, no /usr/share/mime/mime.cache: gio listed none, not even the system's vim)
    control = tmp_path / "control"
    (control / "applications").mkdir(parents=True)
    (control / "applications" / "control-viewer.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Control\nExec=/bin/true %f\nMimeType=image/png;\n", encoding="utf-8"
    )
    if "control-viewer.desktop" not in _gio_mime(control, "image/png"):
        pytest.skip("gio on this machine registers no application, not even a minimal control entry")
    install(DesktopFiles(xdg))
    for mime in MIME_TYPES:
        out = _gio_mime(xdg, mime)
        assert "Registered applications:\n\tclarity-studio.desktop" in out, (mime, out)


def test_uninstall_removes_only_what_install_wrote(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = install(DesktopFiles(xdg))
    neighbour = files.entry.parent / "other-app.desktop"
    neighbour.write_text("[Desktop Entry]\nType=Application\nName=Other\nExec=other\n", encoding="utf-8")
    assert clarity(["desktop", "uninstall"]) == 0
    assert not files.entry.exists() and not files.icon.exists()
    assert neighbour.exists()
    assert clarity(["desktop", "uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_a_users_own_entry_is_never_overwritten_or_removed(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = DesktopFiles(xdg)
    files.entry.parent.mkdir(parents=True)
    mine = "[Desktop Entry]\nType=Application\nName=My Clarity\nExec=my-clarity %f\n"
    files.entry.write_text(mine, encoding="utf-8")
    assert clarity(["desktop", "install"]) == 2
    assert clarity(["desktop", "uninstall"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("clarity: error: ") and err[0].endswith("move it away or rerun with --force to replace it")
    assert files.entry.read_text(encoding="utf-8") == mine
    assert clarity(["desktop", "install", "--force"]) == 0
    assert _entry(files.entry)["Name"] == "Clarity Studio"


def test_reinstall_replaces_our_own_entry(xdg: Path) -> None:
    files = install(DesktopFiles(xdg), ["/old/clarity"])
    install(files, ["/new/clarity"])
    assert _entry(files.entry)["Exec"] == "/new/clarity open %f"


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    assert exec_value(["/usr/bin/clarity", "open"]) == "/usr/bin/clarity open"
    assert exec_value(["/opt/My Apps/clarity"]) == '"/opt/My Apps/clarity"'
    # inside quotes: $ " ` \ are backslash-escaped, then every backslash is doubled (string escaping)
    assert exec_value(['/a$b/"c"/d\\e']) == '"/a\\\\$b/\\\\"c\\\\"/d\\\\\\\\e"'
    assert exec_value(["/100%/clarity"]) == "/100%%/clarity"
    text = entry_text(["/opt/My Apps/clarity"])
    assert 'Exec="/opt/My Apps/clarity" open %f\n' in text
    assert "TryExec=/opt/My Apps/clarity\n" in text


def test_data_home_follows_the_xdg_spec(tmp_path: Path) -> None:
    assert data_home({"XDG_DATA_HOME": str(tmp_path), "HOME": "/h"}) == tmp_path
    assert data_home({"XDG_DATA_HOME": "relative/ignored", "HOME": "/h"}) == Path("/h/.local/share")
    assert data_home({"HOME": "/h"}) == Path("/h/.local/share")
