"""A private asyncio event loop on a daemon thread, so synchronous code can run batches of S3 requests.

Running on its own thread, it works the same whether or not the caller is inside another running loop (Jupyter,
an async application). One loop serves the whole process; a forked child starts its own on first use.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {"loop": None, "pid": None}


def _loop() -> asyncio.AbstractEventLoop:
    with _lock:
        loop: asyncio.AbstractEventLoop | None = _state["loop"]
        if loop is None or _state["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="flowstone-s3-loop", daemon=True)
            thread.start()
            _state.update(loop=loop, pid=os.getpid())
        return loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the S3 loop and return its result (blocking the calling thread until it is done)."""
    loop = _loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("A synchronous S3 call was made from the S3 event loop itself; await the async method.")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt: stop the batch instead of letting it run on unobserved
        raise
