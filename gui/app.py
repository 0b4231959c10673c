"""Application bootstrap: ``run_app(path)`` is what ``clarity open [FILE]`` calls."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

SAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "resources" / "sample.jpg"
"""The bundled public-domain photo opened when no file is given (see resources/LICENSE-sample.md)."""


def _clear_cv2_qt_plugin_path() -> None:
    """opencv-python sets ``QT_QPA_PLATFORM_PLUGIN_PATH`` to its own Qt plugins, which breaks
    PySide6's; drop it when it points into cv2."""
    value = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "")
    if value and "cv2" in value:
        del os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"]


def create_application(argv: list[str] | None = None):  # noqa: ANN201 - QApplication
    """The ``QApplication`` (reused if one exists), with names set for ``QSettings``."""
    _clear_cv2_qt_plugin_path()
    from PySide6.QtWidgets import QApplication

    from gui.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    _set_desktop_identity(app)
    return app


def _set_desktop_identity(app) -> None:  # noqa: ANN001 - QApplication
    """Window icon from resources/icons, and the desktop file id that `clarity desktop install` writes
    (Wayland matches windows to their launcher entry by it)."""
    from PySide6.QtGui import QIcon

    from engine.desktop_entry import APP_ID, ICON_SOURCE

    app.setDesktopFileName(APP_ID)
    if ICON_SOURCE.is_file():
        app.setWindowIcon(QIcon(str(ICON_SOURCE)))


def run_app(path: Path | None = None) -> int:
    """Start the desktop app on ``path`` (default: the bundled sample photo); returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from gui.platform_check import prepare_platform

    note = prepare_platform()  # one-line ClarityError instead of Qt's abort; may fall back to Wayland
    if note:
        print(f"clarity: {note}", file=sys.stderr)
    app = create_application()
    from gui.main_window import MainWindow
    from gui.worker import shutdown_all

    window = MainWindow()
    window.show()
    target = Path(path) if path is not None else (SAMPLE_PHOTO if SAMPLE_PHOTO.exists() else None)
    if target is not None:
        window.open_file(target)
    try:
        return int(app.exec())
    finally:
        shutdown_all()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_app(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
