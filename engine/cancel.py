"""A thread-safe cancel token checked by the engine between tiles."""

from __future__ import annotations

import threading

from engine.core.errors import CancelledError


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
