"""Measure the app's memory over N consecutive filter applications (issue 8: no growth).

Drives the real MainWindow offscreen: opens a W x H photo, then N times opens the filter dialog
from the Filter menu, clicks Apply and waits for the result in a running Qt event loop (as the
app does, so deferred deletes happen), printing the process RSS, the undo history's size and the
filter dialogs still alive. The history keeps at most the settings' undo steps (30) and
undo memory (1 GiB) (one copy of the changed region per step), so RSS must level
off once the history is full.

    QT_QPA_PLATFORM=offscreen python scripts/gui_memory.py --runs 50 --size 1024x1024
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--size", default="1024x1024")
    parser.add_argument("--selection", action="store_true", help="apply to a rectangle selection instead of the whole image")
    parser.add_argument("--undo-mib", type=int, default=None, help="undo memory budget in MiB (default: the app's)")
    parser.add_argument("--every", type=int, default=5, help="print a row every N runs")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="clarity-mem-"))
    from tests.plugin_factory import write_tiny_plugin

    write_tiny_plugin(tmp / "plugins", "tiny", menu="Tiny Denoise")
    os.environ["CLARITY_PLUGIN_PATH"] = str(tmp / "plugins")

    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.filter_dialog import FilterDialog
    from gui.main_window import MainWindow
    from gui.selection import Selection
    from gui.settings import AppSettings

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(tmp / "photo.png")
    app = QApplication.instance() or QApplication([])
    settings = AppSettings(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    if args.undo_mib is not None:
        settings.set_undo_memory_mib(args.undo_mib)
    window = MainWindow(settings)

    def spin(msecs: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(msecs, loop.quit)
        loop.exec()

    window.show()
    window.open_file(tmp / "photo.png")
    if args.selection:
        window.set_selection(Selection.rectangle(width // 4, height // 4, width // 2, height // 2, feather=4.0))
    history = window.undo_stack
    print(f"image {width}x{height}, undo limit {history.max_steps} steps / {history.max_bytes / 2**20:.0f} MiB, "
          f"start RSS {rss_mib():.0f} MiB", flush=True)
    print("run  RSS MiB  seconds  undo steps  undo MiB  live dialogs", flush=True)
    for run in range(1, args.runs + 1):
        window.filter_actions["tiny"].trigger()
        dialog = window.filter_dialog
        done: list[bool] = []
        dialog.applied.connect(lambda *_: done.append(True))
        dialog.failed.connect(lambda msg: (print("failed:", msg), done.append(False)))
        t0 = time.perf_counter()
        dialog.apply_button.click()
        while not done or dialog.running:
            spin(5)
        seconds = time.perf_counter() - t0
        del dialog
        spin(5)
        if run == 1 or run % args.every == 0:
            gc.collect()
            live = sum(type(o) is FilterDialog for o in gc.get_objects())
            print(f"{run:3d}  {rss_mib():7.0f}  {seconds:7.2f}  {history.count():10d}  "
                  f"{history.stored_bytes() / 2**20:8.0f}  {live:12d}", flush=True)
    window.undo_stack.set_clean()  # no "save changes?" box: it would block an offscreen run
    window.close()


if __name__ == "__main__":
    main()
