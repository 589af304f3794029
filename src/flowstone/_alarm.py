"""A time limit on a block of the main thread, enforced with SIGALRM (used by tasks and card rendering alike)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["raise_after"]


@contextmanager
def raise_after(seconds: float | None, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raise ``error()`` inside the block once it has run ``seconds`` (None or 0: no limit). Signals arrive in
    the main thread only: call it there. The previous SIGALRM handler is put back afterwards."""
    if not seconds:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise error()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
