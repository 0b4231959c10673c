"""``python -m gui.screenshot OUT.png``: the README screenshot, made by driving the real app.

Opens the sample photo with synthetic noise added (sigma 25/255, seeded) so a denoiser has
something to restore, applies ``--plugin`` (default: the first usable denoise plugin) through
the filter dialog exactly as a user would, switches on the compare split view (noisy left,
restored right) and grabs the window. Run it on a real X server (e.g. ``Xvfb :99`` and
``DISPLAY=:99``) or offscreen. ``--tiny`` writes the test suite's tiny conv plugin into a
temporary folder and uses it as a stand-in when no trained plugin exists yet.
The PNG is palette-quantised when needed to stay under ``--max-kb``.

``--dialog`` shows the filter dialog instead, with its live preview of the area around
``--select X,Y,W,H`` (a selection; default: the preview of the visible area), composited over
the window (works offscreen too). ``--photo FILE`` uses a real (noisy) photo as it is instead of
the sample with synthetic noise. The README's screenshot of the filter dialog:

    QT_QPA_PLATFORM=offscreen python -m gui.screenshot docs/img/filter-dialog.png --dialog \
        --photo NOISY.jpg [--plugin denoise] [--select X,Y,W,H]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _wait(app, predicate, timeout: float) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def main(argv: list[str] | None = None) -> int:
    """Make the screenshot; returns 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m gui.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--plugin", help="plugin id to apply (default: first usable denoise plugin)")
    parser.add_argument("--tiny", action="store_true", help="use the tiny test plugin as a stand-in")
    parser.add_argument("--size", default="1280x800", help="window size WxH")
    parser.add_argument("--max-kb", type=int, default=480)
    parser.add_argument("--dialog", action="store_true", help="grab the filter dialog with its preview, not the compare view")
    parser.add_argument("--photo", type=Path, help="a real photo to open as is (default: the sample with synthetic noise)")
    parser.add_argument("--select", help="X,Y,W,H: a rectangle selection before the filter (the preview centres on it)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="clarity-shot-"))
    if args.tiny:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.plugin_factory import write_tiny_plugin

        write_tiny_plugin(tmp / "plugins", "tiny", menu="Tiny Denoise (test stand-in)")
        os.environ["CLARITY_PLUGIN_PATH"] = str(tmp / "plugins")
        args.plugin = args.plugin or "tiny"

    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QSettings

    from gui.app import SAMPLE_PHOTO, create_application
    from gui.main_window import MainWindow
    from gui.settings import AppSettings
    from gui.worker import shutdown_all

    app = create_application()
    rng = np.random.default_rng(0)
    clean = np.asarray(Image.open(SAMPLE_PHOTO).convert("RGB"), np.float32) / 255.0
    noisy = np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1)
    noisy_path = tmp / "astronaut-noisy.png"
    Image.fromarray(np.rint(noisy * 255).astype(np.uint8)).save(noisy_path)
    if args.photo is not None:
        noisy_path = args.photo

    window = MainWindow(AppSettings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)))
    w, h = (int(v) for v in args.size.lower().split("x"))
    window.resize(w, h)
    window.show()
    if not window.open_file(noisy_path):
        return 1
    import engine.api

    plugin = args.plugin
    if plugin is None:
        usable = [p for p in engine.api.list_plugins() if p.usable and p.manifest and p.manifest.task.value == "denoise"]
        if not usable:
            print("no usable denoise plugin; pass --plugin ID or --tiny", file=sys.stderr)
            return 1
        plugin = usable[0].id
    if args.select:
        from gui.selection import Selection

        x, y, sw, sh = (int(v) for v in args.select.split(","))
        window.set_selection(Selection.rectangle(x, y, sw, sh))
    dialog = window.open_filter_dialog(plugin)
    if dialog is None:
        return 1
    if args.dialog:
        return _grab_dialog(app, window, dialog, args.output, args.max_kb, plugin)
    results: list[object] = []
    dialog.applied.connect(results.append)
    dialog.start_apply()
    if not _wait(app, lambda: bool(results) and not dialog.running, 600):
        print(f"filter did not finish: {dialog.last_error}", file=sys.stderr)
        return 1
    window.canvas.fit()
    window.compare_action.setChecked(True)
    window.canvas.set_split(0.5)
    _wait(app, lambda: False, 0.5)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.output))
    if args.output.stat().st_size > args.max_kb * 1024:
        Image.open(args.output).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.output, optimize=True)
    print(f"{args.output}: {args.output.stat().st_size // 1024} KB, plugin {plugin}, {app.platformName()} platform")
    window.document.set_dirty(False)
    window.close()
    shutdown_all()
    return 0


def _grab_dialog(app, window, dialog, output: Path, max_kb: int, plugin: str) -> int:  # noqa: ANN001
    """Wait for the dialog's preview, then save the window with the dialog painted over it."""
    from PIL import Image
    from PySide6.QtGui import QPainter

    from gui.worker import shutdown_all

    previews: list[bool] = []
    dialog.preview_ready.connect(lambda: previews.append(True))
    dialog.resize(dialog.sizeHint().expandedTo(dialog.size()))  # the preview at 100 % where the screen allows
    if not _wait(app, lambda: bool(previews), 600):
        print(f"preview did not finish: {dialog.last_error or dialog.preview_status.text()}", file=sys.stderr)
        return 1
    _wait(app, lambda: False, 0.3)
    shot = window.grab()
    painter = QPainter(shot)
    top_left = dialog.mapToGlobal(dialog.rect().topLeft()) - window.mapToGlobal(window.rect().topLeft())
    if top_left.x() < 0 or top_left.y() < 0 or top_left.x() > shot.width() // 2:  # offscreen: no window manager
        top_left.setX(max(0, (shot.width() - dialog.width()) // 2))
        top_left.setY(max(0, (shot.height() - dialog.height()) // 2))
    painter.drawPixmap(top_left, dialog.grab())
    painter.end()
    output.parent.mkdir(parents=True, exist_ok=True)
    shot.save(str(output))
    if output.stat().st_size > max_kb * 1024:
        Image.open(output).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(output, optimize=True)
    print(f"{output}: {output.stat().st_size // 1024} KB, filter dialog of {plugin}, {app.platformName()} platform")
    dialog.reject()
    window.document.set_dirty(False)
    window.close()
    shutdown_all()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
