"""``clarity fuzz --target hostile``: random hostile inputs beyond image bytes (issue 19's classes).

Each run draws one kind at random and feeds it to the code that must refuse it cleanly:

- ``header``: a safetensors header (random nesting depth up to 200,000 arrays/objects, brackets
  inside strings, random lengths) written to a file and given to
  :func:`plugins.weights.safetensors_problem`: it must return a reason or ``None``, never raise;
- ``template``: a batch name template with random fields, conversions and format specs (widths
  up to 10**9): :func:`engine.batch.naming.check_template` must accept it or raise
  :class:`ParameterError`, and an accepted template must give names of at most 255 bytes;
- ``text``: random strings full of control, bidi and format characters: the result of
  :func:`engine.core.text.printable`/``one_line`` must contain none of them;
- ``special``: a FIFO, a link to ``/dev/zero`` or a socket named like an image, given to
  :func:`engine.io.read_image`: it must be refused (``UnsupportedImageError``) without blocking.

Anything else (another exception, a broken invariant, a run over the slow threshold) is a crash,
grouped and saved like the reader fuzzer's (:mod:`engine.fuzzing`).
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.core.errors import ParameterError, UnsupportedImageError
from engine.fuzzing import CrashGroup, FuzzReport, InvariantViolation, record_crash

KINDS: tuple[str, ...] = ("header", "template", "text", "special")
_FIELDS = ("stem", "ext", "srcext", "name", "plugin", "index", "bogus", "stem.__class__", "index[0]", "")
_CONTROL = [chr(c) for c in range(0, 32)] + ["\x7f", "\x9b", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028"]


def _header(rng: random.Random) -> bytes:
    depth = rng.choice([1, 3, 8, 9, 100, 10_000, 200_000])
    opener = rng.choice([b"[", b"{\"a\":", b"[\"[[[[\","])
    closer = b"]" if opener != b"{\"a\":" else b"}"
    body = opener * depth + b"0" + closer * rng.choice([depth, depth // 2, 0])
    if rng.random() < 0.3:
        body = b'{"__metadata__": {"x": "' + b"[" * rng.randrange(1000) + b'"}}'
    length = len(body) if rng.random() < 0.8 else rng.choice([0, 1, len(body) + 10, 2**63])
    return int(length).to_bytes(8, "little", signed=False)[:8] + body


def _template(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        field = rng.choice(_FIELDS)
        spec = rng.choice(["", ":>" + str(rng.choice([1, 200, 255, 256, 10**9])), ":x<" + str(rng.randint(0, 400)),
                           ":03d", ":d", ":.3", ":{ext}", "!r", "!z"])
        parts.append(rng.choice(["", "_", "a/b", "."]) + "{" + field + spec + "}")
    return "".join(parts) + rng.choice(["", "{ext}", "{", "}"])


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_CONTROL) if rng.random() < 0.5 else chr(rng.randint(32, 0x3000))
                   for _ in range(rng.randint(0, 40)))


def _attempt(kind: str, rng: random.Random, scratch: Path, index: int) -> tuple[bool, bytes]:
    """Run one input; (accepted, sample bytes). Raises on a crash."""
    if kind == "header":
        from plugins.weights import safetensors_problem

        data = _header(rng)
        path = scratch / "w.safetensors"
        path.write_bytes(data)
        return safetensors_problem(path) is None, data
    if kind == "template":
        from engine.batch.naming import MAX_NAME_BYTES, check_template

        template = _template(rng)
        data = template.encode("utf-8", "surrogatepass")
        try:
            check_template(template)
        except ParameterError:
            return False, data
        name = template.format(stem="IMG_0001" * rng.randint(1, 30), ext=".png", srcext="jpg", name="x.jpg",
                               plugin="denoise", index=rng.randint(1, 10**6))
        if len(name.encode()) > 4 * MAX_NAME_BYTES + 240:  # per-file names are checked again at planning
            raise InvariantViolation(f"accepted template {template!r} gives a {len(name)}-character name")
        return True, data
    if kind == "text":
        from engine.core.text import one_line, printable

        text = _text(rng)
        for out in (printable(text), one_line(text)):
            bad = [c for c in out if c in _CONTROL and c not in "\t\n"]
            if bad or ("\n" in one_line(text)):
                raise InvariantViolation(f"unsafe character {bad[:1]!r} survived in {out!r}")
        return True, text.encode("utf-8", "surrogatepass")
    from engine.io import read_image

    path = scratch / f"special-{index}.png"
    which = rng.choice(["fifo", "devzero", "socket"])
    sock = None
    if which == "fifo":
        os.mkfifo(path)
    elif which == "devzero":
        os.symlink("/dev/zero", path)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    try:
        read_image(path)
    except UnsupportedImageError:
        return False, which.encode()
    finally:
        if sock is not None:
            sock.close()
        path.unlink(missing_ok=True)
    raise InvariantViolation(f"a {which} was read as an image")


def run_hostile_fuzz(
    *,
    seconds: float,
    rng_seed: int = 0,
    out_dir: Path | None = None,
    slow_seconds: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
) -> FuzzReport:
    """Fuzz the hostile-input kinds for ``seconds`` seconds (see the module docstring)."""
    if seconds <= 0:
        raise ParameterError(f"fuzzing time {seconds} must be positive")
    rng = random.Random(rng_seed)
    groups: dict[tuple[str, str], CrashGroup] = {}
    slow: list[tuple[str, float]] = []
    runs = ok = rejected = 0
    start = time.perf_counter()
    next_report = start + 1.0
    with tempfile.TemporaryDirectory(prefix="clarity-fuzz-hostile-") as tmp:
        scratch = Path(tmp)
        while time.perf_counter() - start < seconds:
            if progress is not None and time.perf_counter() >= next_report:
                progress(runs, sum(g.count for g in groups.values()))
                next_report = time.perf_counter() + 1.0
            kind = rng.choice(KINDS)
            t0 = time.perf_counter()
            sample = b""
            try:
                accepted, sample = _attempt(kind, rng, scratch, runs)
                ok += accepted
                rejected += not accepted
            except Exception as exc:  # noqa: BLE001 - a crash is what the fuzzer looks for
                record_crash(groups, exc, sample, kind, out_dir)
            elapsed = time.perf_counter() - t0
            if elapsed > slow_seconds:
                slow.append((kind, round(elapsed, 2)))
            runs += 1
    return FuzzReport(runs=runs, ok=ok, rejected=rejected,
                      crashes=tuple(sorted(groups.values(), key=lambda g: -g.count)), slow=tuple(slow),
                      seconds=round(time.perf_counter() - start, 1), seeds=len(KINDS), rng_seed=rng_seed)
