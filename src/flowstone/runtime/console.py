"""What a run prints: timestamped task lines prefixed ``[run/step/task (pid N)]``, and on a terminal a live
progress line (tasks done, running, failed) kept below them. No threads: the scheduling loop refreshes it."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any, TextIO

__all__ = ["Console"]

_REFRESH_SECONDS = 0.1


def _timestamp() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class Console:
    """Prints run and task messages; ``quiet`` hides flowstone's own chatter but never task output or errors."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.error_stream = sys.stderr if stream is None else stream
        is_tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._live_wanted = is_tty if live is None else live
        self._live: Any = None
        self._progress = ""
        self._last_refresh = 0.0

    # -- lines ------------------------------------------------------------------------------------
    def _emit(self, text: str, error: bool = False) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            self._refresh()
        else:
            stream = self.error_stream if error else self.stream
            stream.write(text + "\n")
            stream.flush()

    def info(self, message: str) -> None:
        """A message from flowstone itself (hidden by --quiet)."""
        if not self.quiet:
            self._emit(f"{_timestamp()} {message}")

    def error(self, message: str) -> None:
        self._emit(f"{_timestamp()} {message}", error=True)

    def task_line(self, prefix: str, line: str, stream: str = "stdout", system: bool = False) -> None:
        """A line from a task (``system``: flowstone's own note about the task, hidden by --quiet)."""
        if system and self.quiet:
            return
        self._emit(f"{_timestamp()} [{prefix}] {line}", error=stream == "stderr" and self._live is None)

    # -- live progress ----------------------------------------------------------------------------
    def start_progress(self) -> None:
        if not self._live_wanted or self._live is not None:
            return
        from rich.console import Console as RichConsole
        from rich.live import Live

        # live=True on a stream that is not a terminal (tests, recordings) still draws the progress line
        rich_console = RichConsole(file=self.stream, force_terminal=True if self._live_wanted else None)
        self._live = Live("", console=rich_console, auto_refresh=False, transient=True)
        self._live.start()

    def progress(self, done: int, running: int, failed: int, queued: int) -> None:
        self._progress = f"tasks: {done} done, {running} running, {queued} queued, {failed} failed"
        self._refresh()

    def _refresh(self, force: bool = False) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if force or now - self._last_refresh >= _REFRESH_SECONDS:
            from rich.text import Text

            self._live.update(Text(self._progress), refresh=True)
            self._last_refresh = now

    def stop_progress(self) -> None:
        if self._live is not None:
            self._refresh(force=True)
            self._live.stop()
            self._live = None
