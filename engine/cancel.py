"""A thread-safe cancel token checked by the engine between tiles."""

from __future__ import annotations

import signal
import threading
from typing import Any

from engine.core.errors import CancelledError

_signalled = threading.Event()


def note_interrupt() -> None:
    """Record that the user interrupted the program (Ctrl+C or SIGTERM)."""
    _signalled.set()


def interrupt_was_signalled() -> bool:
    """True once :func:`note_interrupt` ran: a ``KeyboardInterrupt`` is then the user's, not a plugin's."""
    return _signalled.is_set()


def interrupting_handler(signum: int, frame: Any) -> None:
    """Signal handler for SIGINT/SIGTERM: note the interrupt and raise ``KeyboardInterrupt``.

    Raising (rather than dying) lets every ``finally`` run, so temporary files are removed.
    """
    note_interrupt()
    raise KeyboardInterrupt


def install_interrupt_handlers(handler: Any = interrupting_handler) -> dict[int, Any]:
    """Install ``handler`` for SIGINT and SIGTERM (main thread only; elsewhere a no-op).

    Returns the previous handlers, for :func:`restore_handlers`.
    """
    previous: dict[int, Any] = {}
    for name in ("SIGINT", "SIGTERM"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or not allowed here
            break
    return previous


def restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install_interrupt_handlers` returned; forget a noted interrupt."""
    if previous:
        _signalled.clear()
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass


class CancelToken:
    """Set from any thread (UI, signal handler); polled by the worker between tiles.

    The engine never interrupts a tile half-way: after :meth:`cancel` the current tile
    finishes, then :meth:`raise_if_cancelled` raises :class:`CancelledError`.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Request cancellation (idempotent)."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` has been called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`CancelledError` if cancellation was requested."""
        if self._event.is_set():
            raise CancelledError()
