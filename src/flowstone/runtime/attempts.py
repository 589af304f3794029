"""The attempt policy: from a step's decorators and an attempt's outcome, whether the task gets another attempt,
when that attempt starts, and whether a failure is caught.

Attempts of a task are numbered from 0. Attempts ``0 .. last_user_attempt`` run the step's code: the first one
and its retries. A step that asks for a fallback attempt (``@catch``) gets one more after the last of those
failed without catching (the process crashed, or storing the results failed): it runs none of the step's code
and records the failure as caught, so the flow goes on.

Decorators take part through their hooks (:class:`~flowstone.flow.decorators.StepDecorator`): nothing here
knows a decorator class, so a decorator of one's own takes part without a change here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from flowstone.flow.decorators import StepDecorator

__all__ = ["TIMEOUT_GRACE_SECONDS", "AttemptPolicy", "NextAttempt"]

#: Extra time granted past a step's time limit before its process is killed outright (the step itself is
#: interrupted at the limit; this catches code that does not return to Python).
TIMEOUT_GRACE_SECONDS = 5.0


class NextAttempt(NamedTuple):
    """The attempt to start after a failure: its number, how long to wait first, and whether it is the fallback."""

    attempt: int
    delay: float
    fallback: bool


class AttemptPolicy:
    """What a step's decorators ask for its attempts."""

    def __init__(self, decorators: Iterable[StepDecorator]) -> None:
        self.decorators = tuple(decorators)
        asked = [d.extra_attempts() for d in self.decorators]
        #: the last attempt that runs the step's code (0 without retries)
        self.last_user_attempt = max((retries for retries, _ in asked), default=0)
        fallbacks = max((fallback for _, fallback in asked), default=0)
        #: the last attempt there can be
        self.last_attempt = self.last_user_attempt + min(fallbacks, 1)
        limits = [s for s in (d.time_limit_seconds() for d in self.decorators) if s is not None]
        #: the longest one attempt may run (seconds), or None
        self.time_limit = min(limits) if limits else None

    @property
    def kill_after(self) -> float | None:
        """When the runner kills an attempt's process (seconds after it started), or None."""
        return None if self.time_limit is None else self.time_limit + TIMEOUT_GRACE_SECONDS

    def is_fallback(self, attempt: int) -> bool:
        """Whether ``attempt`` is the fallback attempt, which runs none of the step's code."""
        return attempt > self.last_user_attempt

    def after_failure(self, attempt: int) -> NextAttempt | None:
        """The attempt that follows the failed ``attempt``, or None if the task has failed for good."""
        if attempt >= self.last_attempt:
            return None
        following = attempt + 1
        if self.is_fallback(following):
            return NextAttempt(following, 0.0, True)  # it runs no user code: no reason to wait
        delay = max((d.retry_delay_seconds() for d in self.decorators), default=0.0)
        return NextAttempt(following, delay, False)

    def catches(self, exc: BaseException, flow: Any, attempt: int) -> bool:
        """The step raised ``exc`` in ``attempt``: True if a decorator caught it (the attempt then succeeds).
        Retries come first: before the last attempt that runs user code, nothing is caught."""
        if attempt < self.last_user_attempt:
            return False
        handled = [d.task_exception(exc, flow) for d in self.decorators]  # every decorator is told
        return any(handled)

    def environment(self) -> dict[str, str]:
        """Environment variables set while the step runs."""
        variables: dict[str, str] = {}
        for deco in self.decorators:
            variables.update(deco.task_environment())
        return variables
