"""The attempt policy: what a step's decorators ask for its attempts, and decorators of one's own taking part in
a real run without any change to the runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowstone.errors import FlowSpecError
from flowstone.flow.decorator_specs import parse_decorator_spec
from flowstone.flow.decorators import (
    CatchDecorator,
    EnvironmentDecorator,
    RetryDecorator,
    StepDecorator,
    TimeoutDecorator,
    make_step_decorator,
)
from flowstone.runtime.attempts import TIMEOUT_GRACE_SECONDS, AttemptPolicy, NextAttempt
from tests.runtime.helpers import run_flow


def test_no_decorators_means_one_attempt_and_no_limit() -> None:
    policy = AttemptPolicy(())
    assert (policy.last_user_attempt, policy.last_attempt) == (0, 0)
    assert policy.time_limit is None and policy.kill_after is None
    assert policy.after_failure(0) is None
    assert policy.environment() == {}


def test_retries_then_the_catch_fallback() -> None:
    policy = AttemptPolicy((RetryDecorator({"times": 2, "minutes_between_retries": 0.5}), CatchDecorator()))
    assert (policy.last_user_attempt, policy.last_attempt) == (2, 3)
    assert policy.after_failure(0) == NextAttempt(1, 0.0, False)  # retried at once, as Metaflow does locally
    assert policy.after_failure(1) == NextAttempt(2, 0.0, False)
    assert policy.after_failure(2) == NextAttempt(3, 0.0, True)  # the fallback runs no user code: no wait
    assert policy.after_failure(3) is None
    assert [policy.is_fallback(a) for a in range(4)] == [False, False, False, True]


def test_a_decorator_can_ask_for_a_wait_before_retries() -> None:
    policy = AttemptPolicy((RetryDecorator({"times": 1}), _Asking({"delay": 7.5})))
    assert policy.after_failure(0) == NextAttempt(1, 7.5, False)


def test_the_shortest_time_limit_wins_and_the_runner_allows_grace() -> None:
    policy = AttemptPolicy((TimeoutDecorator({"seconds": 30}), _Asking({"limit": 10.0})))
    assert policy.time_limit == 10.0 and policy.kill_after == 10.0 + TIMEOUT_GRACE_SECONDS


def test_failures_are_caught_only_once_no_retry_is_left() -> None:
    catch = CatchDecorator({"var": "err", "print_exception": False})
    policy = AttemptPolicy((RetryDecorator({"times": 1}), catch))
    flow = _Flow()
    assert not policy.catches(ValueError("first"), flow, attempt=0)
    assert not hasattr(flow, "err")  # not told: the retry comes first
    assert policy.catches(ValueError("last"), flow, attempt=1)
    assert flow.err.exception == "last"


def test_every_decorator_hears_of_an_exception() -> None:
    one, two = _Asking({"catches": True}), _Asking({"catches": False})
    assert AttemptPolicy((one, two)).catches(KeyError("k"), _Flow(), attempt=0)
    assert one.heard == two.heard == ["KeyError"]


def test_environments_merge_in_decorator_order() -> None:
    policy = AttemptPolicy((EnvironmentDecorator({"vars": {"A": "1", "B": "2"}}), _Asking({"env": {"B": "3"}})))
    assert policy.environment() == {"A": "1", "B": "3"}


def test_a_decorator_of_ones_own_is_usable_from_the_command_line() -> None:
    make_step_decorator(_Asking)
    deco = parse_decorator_spec("asking:limit=4")
    assert isinstance(deco, _Asking) and AttemptPolicy((deco,)).time_limit == 4


def test_a_builtin_name_cannot_be_taken() -> None:
    class Impostor(StepDecorator):
        name = "retry"

    with pytest.raises(FlowSpecError, match="flowstone's @retry"):
        make_step_decorator(Impostor)


def test_decorators_of_ones_own_take_part_in_a_run(tmp_path: Path) -> None:
    run = run_flow("custom_decorator_flow.py", root=tmp_path / "ds")
    assert run.ok, run.output
    start = run.task("start")
    assert start.attempt == 2 and start["succeeded_on"] == 2  # two retries, asked for by the decorator
    assert start["label"] == "from-the-decorator"  # its environment, set while the step ran
    first = run.fds.get_datastore_for_task(run.run_id, "start", start.task_id, attempt=0, allow_not_done=True)
    assert _lines(first) == ["hook pre attempt 0", "hook finally"]  # a retry follows: nothing to catch yet
    assert _lines(start) == ["hook pre attempt 2", "hook post", "hook finally"]
    fragile = run.task("fragile")
    assert fragile.attempt == 0 and fragile["swallowed"] == "'always fails'"
    assert fragile.load_metadata(["caught"])["caught"] is True
    assert run.task("end")["label_in_end"] is None  # the variable was the decorated step's only


def test_a_flow_that_imports_numpy_runs_without_a_fork_warning(tmp_path: Path) -> None:
    flow = tmp_path / "numpy_flow.py"
    flow.write_text(_NUMPY_FLOW)
    run = run_flow(flow, root=tmp_path / "ds")
    assert run.ok, run.output
    assert run.end_result() == 90000.0
    assert "fork executor" not in run.output


_NUMPY_FLOW = '''
import numpy as np

from flowstone import FlowSpec, step


class NumpyFlow(FlowSpec):
    @step
    def start(self):
        self.product = np.ones((300, 300)) @ np.ones((300, 300))  # BLAS threads at work in the task
        self.next(self.end)

    @step
    def end(self):
        self.result = float(self.product[0].sum())


if __name__ == "__main__":
    NumpyFlow()
'''


def _lines(task: Any) -> list[str]:
    return [line for _, line in task.load_log_lines("stdout")]


class _Flow:
    name = "TestFlow"


class _Asking(StepDecorator):
    """Asks for what its attributes say."""

    name = "asking"
    defaults = {"limit": None, "catches": False, "env": {}, "delay": 0.0}

    def __init__(self, attributes: dict[str, Any] | None = None, statically_defined: bool = True) -> None:
        super().__init__(attributes, statically_defined)
        self.heard: list[str] = []

    def time_limit_seconds(self) -> float | None:
        return self.attributes["limit"]

    def task_environment(self) -> dict[str, str]:
        return dict(self.attributes["env"])

    def retry_delay_seconds(self) -> float:
        return float(self.attributes["delay"])

    def task_exception(self, exc: BaseException, flow: Any) -> bool:
        self.heard.append(type(exc).__name__)
        return bool(self.attributes["catches"])
