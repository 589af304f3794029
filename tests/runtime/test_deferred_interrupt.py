"""Ctrl-C inside the runner's loop is taken at its waits, not wherever it lands (flowstone._interrupt)."""

from __future__ import annotations

import signal
import threading

import pytest

from flowstone._interrupt import deferred, interruptible, raise_if_pending


def test_a_ctrl_c_outside_a_wait_is_raised_at_the_next_wait() -> None:
    steps = []
    with deferred(), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        steps.append("bookkeeping finished")
        with interruptible():
            steps.append("waited")
    assert steps == ["bookkeeping finished"]


def test_a_ctrl_c_during_a_wait_breaks_it_off_at_once() -> None:
    with deferred(), pytest.raises(KeyboardInterrupt), interruptible():
        signal.raise_signal(signal.SIGINT)
        pytest.fail("the wait went on")


def test_a_noted_ctrl_c_is_raised_at_a_check_and_only_once() -> None:
    with deferred():
        signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            raise_if_pending()
        raise_if_pending()  # taken: nothing pending any more
        with interruptible():
            pass


def test_the_previous_handler_is_back_after_the_block_and_a_late_ctrl_c_is_dropped() -> None:
    before = signal.getsignal(signal.SIGINT)
    with deferred():
        signal.raise_signal(signal.SIGINT)  # after the last wait: the block's work is done
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)  # Python's default again


def test_off_the_main_thread_the_handler_is_left_alone() -> None:
    seen = []

    def in_thread() -> None:
        with deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(timeout=30)
    assert seen == [signal.getsignal(signal.SIGINT)]
