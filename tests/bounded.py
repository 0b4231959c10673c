"""A guard for tests of code that must never block (FIFOs, devices, sockets): :func:`bounded`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def bounded(fn: Callable[[], T], seconds: float = 30.0) -> T:
    """Run ``fn`` in a daemon thread and return its value, re-raising what it raised.

    Fails the test (an ``AssertionError``) instead of hanging the suite when ``fn`` is still
    running after ``seconds``; the stuck daemon thread is left behind and dies with the process.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
