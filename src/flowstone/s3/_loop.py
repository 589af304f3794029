"""A private asyncio event loop on a daemon thread, so synchronous code can run batches of S3 requests.

Running on its own thread, it works the same whether or not the caller is inside another running loop (Jupyter,
an async application). One loop serves the whole process. A child forked after the loop started cannot use it
(nor obstore, whose runtime does not survive fork) and gets a clear error instead of a hang.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from flowstone.s3.errors import S3Exception

__all__ = ["run"]

T = TypeVar("T")

_lock = threading.Lock()
_state: dict[str, Any] = {"loop": None, "pid": None}


def _loop() -> asyncio.AbstractEventLoop:
    with _lock:
        loop: asyncio.AbstractEventLoop | None = _state["loop"]
        if loop is not None and _state["pid"] != os.getpid():
            # obstore's I/O runtime does not survive fork: its requests would hang forever in this child.
            raise S3Exception(
                "This process was forked from one that had already used the S3 client, and the S3 client cannot "
                "work in such a child. Use S3 in the child only, or start it with multiprocessing's 'spawn' or "
                "'forkserver' method."
            )
        if loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="flowstone-s3-loop", daemon=True)
            thread.start()
            _state.update(loop=loop, pid=os.getpid())
        return loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the S3 loop and return its result (blocking the calling thread until it is done)."""
    try:
        loop = _loop()
    except BaseException:
        coro.close()
        raise
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise S3Exception("A synchronous S3 call was made from the S3 event loop itself; await the async method.")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt: stop the batch instead of letting it run on unobserved
        raise
