"""Run the hostile cases of issue 19 against the ``clarity`` command line and count the outcomes.

Usage (from a checkout; the code under test is the one on ``PYTHONPATH``)::

    PYTHONPATH=$PWD python scripts/attack.py [--only NAME ...] [--keep DIR]

Each *kind* builds its own folders and plugins under a temporary root, runs one or more
``clarity`` commands in a subprocess (with a timeout; Ctrl+C/SIGTERM are sent where the kind
asks for it) and checks the outcome. Printed per kind: ``handled`` or why not. The last line
counts kinds tried, handled, crashes (a traceback, a timeout or a hang), user files changed
(sha256 of every input, and of a user's edited output, before and after) and partial files left
(hidden temp files ``.~*`` / ``*.part`` under the output folders after the run).

Not a test (it takes a few minutes and spawns many processes); the unit tests cover each case.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIMEOUT = 40.0


@dataclass
class Run:
    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool


@dataclass
class Case:
    """Everything a kind needs: its folders and a way to run ``clarity``."""

    root: Path
    plugins: Path
    env: dict[str, str]
    watched: list[Path] = field(default_factory=list)  # user files whose bytes must never change
    out_dirs: list[Path] = field(default_factory=list)  # folders searched for partial files

    def clarity(self, *args: str, timeout: float = TIMEOUT, signal_after: tuple[float, int, int] | None = None) -> Run:
        """Run ``clarity ARGS``; ``signal_after=(seconds, signum, count)`` sends a signal count times."""
        cmd = [sys.executable, "-m", "engine.cli.main", *args]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                                cwd=self.root, start_new_session=True)
        if signal_after is not None:
            delay, signum, count = signal_after
            def send() -> None:
                time.sleep(delay)
                for _ in range(count):
                    if proc.poll() is None:
                        proc.send_signal(signum)
                        time.sleep(0.5)
            threading.Thread(target=send, daemon=True).start()
        try:
            out, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        return Run(proc.returncode if not timed_out else None, out.decode("utf-8", "replace"),
                   err.decode("utf-8", "replace"), time.monotonic() - start, timed_out)


def _hash_tree(paths: list[Path]) -> dict[str, str]:
    found: dict[str, str] = {}
    for base in paths:
        items = [base] if base.is_file() or base.is_symlink() else sorted(base.rglob("*")) if base.exists() else []
        for p in items:
            if p.is_symlink() or not p.is_file():
                found[str(p)] = "special"
                continue
            found[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


def _partials(folders: list[Path]) -> list[Path]:
    left = []
    for folder in folders:
        if folder.exists():
            left += [p for p in folder.rglob("*") if p.name.startswith(".~") or p.name.endswith(".part")]
    return left


def _clean(run: Run) -> str | None:
    """None when the run ended by itself without a traceback, else why not."""
    if run.timed_out:
        return f"hung (killed after {run.seconds:.0f} s)"
    if "Traceback" in run.err or "Traceback" in run.out:
        last = [line for line in run.err.splitlines() if line.strip()][-1:] or ["?"]
        return f"traceback: {last[0][:120]}"
    return None


def _raw_controls(text: str) -> bool:
    return any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 or c in "\u202e\u202d" for c in text)


# --------------------------------------------------------------------------- building blocks
def _photos(folder: Path, n: int = 2) -> None:
    from tests.corpus import make_good_photos

    make_good_photos(folder, n, width=32, height=24)


def _tiny(case: Case, plugin_id: str = "tiny", **kw: object) -> Path:
    from tests.plugin_factory import write_tiny_plugin

    return write_tiny_plugin(case.plugins, plugin_id, **kw)  # type: ignore[arg-type]


def _deep_json_plugin(case: Case) -> None:
    from tests.plugin_factory import sha256_of

    folder = _tiny(case, "deep")
    header = b"[" * 100_000 + b"]" * 100_000
    weights = folder / "weights.safetensors"
    weights.write_bytes(len(header).to_bytes(8, "little") + header)
    toml = folder / "plugin.toml"
    text = toml.read_text()
    import re

    toml.write_text(re.sub(r'sha256 = "[0-9a-f]*"', f'sha256 = "{sha256_of(weights)}"', text))


def _plugin_with_forward(case: Case, plugin_id: str, body: str) -> None:
    folder = _tiny(case, plugin_id)
    model = folder / "model.py"
    text = model.read_text()
    marker = "    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:\n"
    assert marker in text
    model.write_text(text.replace(marker, marker + f"        {body}\n", 1))


def _batch(case: Case, *extra: str, src: str = "in", out: str = "out", **kw: object) -> Run:
    return case.clarity("batch", str(case.root / src), str(case.root / out), *extra, **kw)  # type: ignore[arg-type]


def _setup_in(case: Case, n: int = 2) -> Path:
    src = case.root / "in"
    _photos(src, n)
    case.watched.append(src)
    case.out_dirs.append(case.root / "out")
    return src


# --------------------------------------------------------------------------- the kinds
Check = Callable[[Case], str | None]
KINDS: dict[str, Check] = {}


def kind(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        KINDS[name] = fn
        return fn
    return register


@kind("fifo-input")
def _(case: Case) -> str | None:
    src = _setup_in(case)
    os.mkfifo(src / "pipe.png")
    _tiny(case)
    run = _batch(case, "--filter", "tiny")
    if (why := _clean(run)):
        return why
    if run.rc != 1 or "pipe.png" not in run.err:
        return f"exit {run.rc}, no reason for pipe.png"
    return None


@kind("devzero-link-input")
def _(case: Case) -> str | None:
    src = _setup_in(case)
    os.symlink("/dev/zero", src / "zero.png")
    _tiny(case)
    run = _batch(case, "--filter", "tiny")
    if (why := _clean(run)):
        return why
    return None if run.rc == 1 and "zero.png" in run.err else f"exit {run.rc}"


@kind("fifo-sidecar-output")
def _(case: Case) -> str | None:
    _setup_in(case)
    out = case.root / "out"
    out.mkdir()
    os.mkfifo(out / "photo_000.png.clarity.json")
    os.mkfifo(out / "photo_000.png")
    _tiny(case)
    run = _batch(case, "--filter", "tiny")
    return _clean(run) or (None if run.rc in (0, 1) else f"exit {run.rc}")


@kind("deep-json-list")
def _(case: Case) -> str | None:
    _deep_json_plugin(case)
    _tiny(case)
    run = case.clarity("list")
    if (why := _clean(run)):
        return why
    return None if run.rc == 0 and "tiny" in run.out and "deep" in run.out else f"exit {run.rc}"


@kind("deep-json-batch-other-plugin")
def _(case: Case) -> str | None:
    _setup_in(case)
    _deep_json_plugin(case)
    _tiny(case)
    run = _batch(case, "--filter", "tiny")
    return _clean(run) or (None if run.rc == 0 else f"exit {run.rc}")


@kind("deep-json-plugin-check")
def _(case: Case) -> str | None:
    _deep_json_plugin(case)
    run = case.clarity("plugin", "check", str(case.plugins / "deep"))
    return _clean(run) or (None if run.rc in (1, 2) else f"exit {run.rc}")


@kind("apply-2gb-non-image")
def _(case: Case) -> str | None:
    big = case.root / "big.png"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)
    _tiny(case)
    run = case.clarity("apply", str(big), str(case.root / "o.png"), "--filter", "tiny")
    if (why := _clean(run)):
        return why
    return None if run.rc == 2 and run.seconds < 20 else f"exit {run.rc} after {run.seconds:.1f} s"


@kind("apply-mask-devzero")
def _(case: Case) -> str | None:
    _setup_in(case, 1)
    _tiny(case)
    run = case.clarity("apply", str(case.root / "in/photo_000.png"), str(case.root / "o.png"), "--filter", "tiny",
                       "--mask", "/dev/zero", timeout=20)
    return _clean(run) or (None if run.rc == 2 else f"exit {run.rc}")


@kind("apply-mask-fifo")
def _(case: Case) -> str | None:
    _setup_in(case, 1)
    _tiny(case)
    os.mkfifo(case.root / "mask.png")
    run = case.clarity("apply", str(case.root / "in/photo_000.png"), str(case.root / "o.png"), "--filter", "tiny",
                       "--mask", str(case.root / "mask.png"), timeout=20)
    return _clean(run) or (None if run.rc == 2 else f"exit {run.rc}")


@kind("report-dir-unwritable")
def _(case: Case) -> str | None:
    _setup_in(case)
    _tiny(case)
    (case.root / "afile").write_text("x")
    run = _batch(case, "--filter", "tiny", "--report-dir", str(case.root / "afile/reports"))
    if (why := _clean(run)):
        return why
    if (case.root / "out").exists() and any((case.root / "out").iterdir()) and run.rc == 2:
        return "outputs written, then only a report error (exit 2)"
    return None if run.rc == 2 else f"exit {run.rc}"


@kind("edited-output-rerun")
def _(case: Case) -> str | None:
    _setup_in(case)
    _tiny(case)
    first = _batch(case, "--filter", "tiny")
    if first.rc != 0:
        return f"first run exit {first.rc}"
    edited = case.root / "out/photo_000.png"
    from PIL import Image

    Image.new("RGB", (32, 24), (255, 0, 0)).save(edited)
    case.watched.append(edited)
    run = _batch(case, "--filter", "tiny")
    return _clean(run) or (None if run.rc == 1 else f"exit {run.rc}")


@kind("stale-output-rerun")
def _(case: Case) -> str | None:
    _setup_in(case)
    _tiny(case)
    first = _batch(case, "--filter", "tiny", "--param", "amount=0.5")
    if first.rc != 0:
        return f"first run exit {first.rc}"
    case.watched.append(case.root / "out/photo_000.png")
    run = _batch(case, "--filter", "tiny", "--param", "amount=0.2")
    if (why := _clean(run)):
        return why
    return None if run.rc in (1, 2) and "--overwrite" in run.err + run.out else f"exit {run.rc}"


@kind("control-chars-list")
def _(case: Case) -> str | None:
    folder = _tiny(case, "evil")
    toml = folder / "plugin.toml"
    toml.write_text(toml.read_text().replace('description = "Tiny conv test network."',
                                              'description = "a\\u001b]0;pwned\\u0007b\\u001b[2J\\r\\u202e"')
                    .replace('name = "Evil"', 'name = "E\\u001b[31mvil\\u0000"'))
    run = case.clarity("list")
    if (why := _clean(run)):
        return why
    return "raw control characters printed" if _raw_controls(run.out + run.err) else None


@kind("control-chars-bad-id")
def _(case: Case) -> str | None:
    _setup_in(case, 1)
    _tiny(case)
    run = case.clarity("apply", str(case.root / "in/photo_000.png"), str(case.root / "o.png"), "--filter",
                       "x\x1b]0;pwned\x07\x1b[2J")
    if (why := _clean(run)):
        return why
    return "raw control characters printed" if _raw_controls(run.out + run.err) else None


@kind("control-chars-file-name")
def _(case: Case) -> str | None:
    src = _setup_in(case, 1)
    (src / "bad\x1b[2J\u202e.png").write_text("not an image")
    _tiny(case)
    run = _batch(case, "--filter", "tiny")
    if (why := _clean(run)):
        return why
    return "raw control characters printed" if _raw_controls(run.out + run.err) else None


@kind("template-huge-width")
def _(case: Case) -> str | None:
    _setup_in(case)
    _tiny(case)
    run = _batch(case, "--filter", "tiny", "--name", "{stem:>999999999}{ext}", timeout=30)
    return _clean(run) or (None if run.rc == 2 and run.seconds < 20 else f"exit {run.rc}")


@kind("template-long-name")
def _(case: Case) -> str | None:
    _setup_in(case)
    _tiny(case)
    run = _batch(case, "--filter", "tiny", "--name", "{index:x<300}{ext}")
    return _clean(run) or (None if run.rc == 2 else f"exit {run.rc} (not refused up front)")


@kind("sigterm-mid-batch")
def _(case: Case) -> str | None:
    _setup_in(case, 6)
    _tiny(case, "slow", sleep=0.3)
    run = _batch(case, "--filter", "slow", "--tile", "8", signal_after=(6.0, signal.SIGTERM, 1))
    if (why := _clean(run)):
        return why
    if not (case.root / "out/batch-report.json").exists():
        return f"no report (exit {run.rc})"
    return None


@kind("sigint-twice-mid-batch")
def _(case: Case) -> str | None:
    _setup_in(case, 6)
    _tiny(case, "slow", sleep=0.3)
    run = _batch(case, "--filter", "slow", "--tile", "8", signal_after=(6.0, signal.SIGINT, 2))
    return _clean(run) or (None if run.rc == 130 else f"exit {run.rc}")


@kind("stale-temp-on-resume")
def _(case: Case) -> str | None:
    _setup_in(case)
    _tiny(case)
    out = case.root / "out"
    out.mkdir()
    (out / ".~photo_000.8c8a35ca.png").write_bytes(b"")
    run = _batch(case, "--filter", "tiny")
    return _clean(run) or (None if run.rc == 0 else f"exit {run.rc}")


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "big"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/big":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(64):
                    self.wfile.write(b"\0" * (1 << 20))
            except OSError:
                pass
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "4000")
            self.end_headers()
            try:
                for _ in range(4000):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(2)
            except OSError:
                pass
        elif self.path == "/negative":
            self.send_response(200)
            self.send_header("Content-Length", "-5")
            self.end_headers()
            self.wfile.write(b"\0" * 100)


def _server() -> tuple[socketserver.TCPServer, int]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def _remote_plugin(case: Case, path: str) -> None:
    import re

    folder = _tiny(case, "remote")
    weights = folder / "weights.safetensors"
    size = weights.stat().st_size
    weights.unlink()
    toml = folder / "plugin.toml"
    text = toml.read_text()
    _, port = case.server  # type: ignore[attr-defined]
    toml.write_text(re.sub(r'(sha256 = "[0-9a-f]*")', rf'\1' + f'\nurl = "http://127.0.0.1:{port}{path}"\nsize = {size}',
                           text, count=1))
    text = toml.read_text()
    if "size =" in text:  # the manifest may not know `size`: drop it then
        try:
            from plugins.manifest import load_manifest

            load_manifest(toml)
        except Exception:  # noqa: BLE001
            toml.write_text(text.replace(f"\nsize = {size}", ""))


@kind("download-no-size-cap")
def _(case: Case) -> str | None:
    _remote_plugin(case, "/big")
    case.out_dirs.append(case.root / "cache")
    run = case.clarity("plugin", "fetch", "remote", timeout=60)
    if (why := _clean(run)):
        return why
    return None if run.rc == 2 and ("larger" in run.err or "more than" in run.err) else f"exit {run.rc}: {run.err.strip()[-100:]}"


@kind("download-trickle-deadline")
def _(case: Case) -> str | None:
    _remote_plugin(case, "/trickle")
    case.out_dirs.append(case.root / "cache")
    run = case.clarity("plugin", "fetch", "remote", timeout=45)
    return _clean(run) or (None if run.rc == 2 else f"exit {run.rc}")


@kind("download-negative-length")
def _(case: Case) -> str | None:
    _remote_plugin(case, "/negative")
    run = case.clarity("plugin", "fetch", "remote", timeout=30)
    if (why := _clean(run)):
        return why
    return "negative percentage shown" if "-" in run.err and "%" in run.err and "-5" not in run.err else None


@kind("plugin-sys-exit-in-forward")
def _(case: Case) -> str | None:
    _setup_in(case)
    _plugin_with_forward(case, "quitter", "import sys; sys.exit(5)")
    run = _batch(case, "--filter", "quitter")
    if (why := _clean(run)):
        return why
    return None if run.rc == 1 and (case.root / "out/batch-report.json").exists() else f"exit {run.rc}"


@kind("plugin-keyboardinterrupt-in-forward")
def _(case: Case) -> str | None:
    _setup_in(case)
    _plugin_with_forward(case, "ki", "raise KeyboardInterrupt")
    run = _batch(case, "--filter", "ki")
    if (why := _clean(run)):
        return why
    return None if run.rc == 1 and (case.root / "out/batch-report.json").exists() else f"exit {run.rc}"


@kind("apply-animated-warning")
def _(case: Case) -> str | None:
    from tests.corpus import make_bad_input_corpus

    make_bad_input_corpus(case.root / "c")
    _tiny(case)
    run = case.clarity("apply", str(case.root / "c/animated.gif"), str(case.root / "o.png"), "--filter", "tiny")
    return _clean(run) or (None if run.rc == 0 and "frame" in run.err else "no first-frame warning")


@kind("apply-5-channel-tiff")
def _(case: Case) -> str | None:
    import numpy as np
    import tifffile

    tifffile.imwrite(case.root / "five.tif", np.full((16, 16, 5), 100, np.uint8), photometric="rgb",
                     extrasamples=[0, 0])
    _tiny(case)
    run = case.clarity("apply", str(case.root / "five.tif"), str(case.root / "o.tif"), "--filter", "tiny")
    return _clean(run) or (None if "channel" in run.err else f"exit {run.rc}, no warning about the extra channel")


@kind("apply-corrupt-exif")
def _(case: Case) -> str | None:
    from PIL import Image

    img = Image.new("RGB", (16, 16), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0110] = "cam"
    data = bytearray(exif.tobytes())
    data[-6:] = b"\xff" * 6  # damage the IFD
    img.save(case.root / "exif.jpg", exif=bytes(data))
    _tiny(case)
    run = case.clarity("apply", str(case.root / "exif.jpg"), str(case.root / "o.jpg"), "--filter", "tiny")
    if (why := _clean(run)):
        return why
    return "raw Python warning printed" if "UserWarning" in run.err or "warnings.warn" in run.err else None


@kind("batch-device-cuda-on-cpu")
def _(case: Case) -> str | None:
    import torch

    if torch.cuda.is_available():
        return None
    _setup_in(case)
    _tiny(case)
    run = _batch(case, "--filter", "tiny", "--device", "cuda")
    return _clean(run) or (None if run.rc == 2 else f"exit {run.rc}")


@kind("param-just-above-max")
def _(case: Case) -> str | None:
    _setup_in(case, 1)
    _tiny(case)
    run = _batch(case, "--filter", "tiny", "--param", "amount=2.0000001")
    return _clean(run) or (None if run.rc == 2 and "2.0000001" in run.err else f"message: {run.err.strip()[-80:]}")


@kind("bad-input-corpus")
def _(case: Case) -> str | None:
    from tests.batch.make_demo import make_demo

    make_demo(case.root / "demo", photos=2)
    case.watched.append(case.root / "demo/in")
    case.out_dirs.append(case.root / "demo/out")
    case.env["CLARITY_PLUGIN_PATH"] = str(case.root / "demo/plugins")
    run = case.clarity("batch", str(case.root / "demo/in"), str(case.root / "demo/out"), "--filter", "tiny",
                       timeout=120)
    return _clean(run) or (None if run.rc == 1 else f"exit {run.rc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args(argv)
    names = args.only or list(KINDS)
    srv, port = _server()
    tried = handled = crashes = changed = partial = 0
    base = Path(tempfile.mkdtemp(prefix="clarity-attack-", dir=args.keep))
    for name in names:
        root = base / name
        root.mkdir(parents=True)
        env = dict(os.environ)
        env.update(CLARITY_PLUGIN_PATH=str(root / "plugins"), CLARITY_CACHE_DIR=str(root / "cache"),
                   PYTHONPATH=os.environ.get("PYTHONPATH", str(ROOT)))
        case = Case(root=root, plugins=root / "plugins", env=env)
        case.server = (srv, port)  # type: ignore[attr-defined]
        tried += 1
        try:
            # hash inputs right before the command runs: setup writes them first
            original_clarity = case.clarity
            before: dict[str, str] = {}

            def clarity(*a: str, _orig: Callable[..., Run] = original_clarity, **k: object) -> Run:
                before.update({p: h for p, h in _hash_tree(case.watched).items() if p not in before})
                return _orig(*a, **k)

            case.clarity = clarity  # type: ignore[method-assign]
            why = KINDS[name](case)
        except Exception as exc:  # noqa: BLE001 - a broken kind is reported, not fatal
            why = f"harness error: {type(exc).__name__}: {exc}"
        after = _hash_tree(case.watched)
        touched = [p for p, h in before.items() if after.get(p) != h]
        left = _partials(case.out_dirs)
        crash = why is not None and (why.startswith("hung") or why.startswith("traceback"))
        crashes += crash
        changed += bool(touched)
        partial += len(left)
        ok = why is None and not touched and not left
        handled += ok
        detail = why or ""
        if touched:
            detail += f" changed: {', '.join(Path(t).name for t in touched)}"
        if left:
            detail += f" left: {', '.join(p.name for p in left)}"
        print(f"{name:38s} {'handled' if ok else 'NOT handled'} {detail.strip()}", flush=True)
    srv.shutdown()
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    print(f"kinds tried {tried}, handled {handled}, crashes {crashes}, kinds with user files changed {changed}, "
          f"partial files left {partial}")
    return 0 if handled == tried else 1


if __name__ == "__main__":
    sys.exit(main())
