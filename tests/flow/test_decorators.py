from __future__ import annotations

import pickle

import pytest

from flowstone.errors import FlowSpecError, FlowstoneException
from flowstone.flow.decorator_specs import parse_decorator_spec
from flowstone.flow.decorators import (
    CatchDecorator,
    EnvironmentDecorator,
    ExceptionWrapper,
    RetryDecorator,
    TimeoutDecorator,
    retry,
    step,
)


def test_parse_specs() -> None:
    deco = parse_decorator_spec("retry")
    assert isinstance(deco, RetryDecorator) and deco.attributes == {"times": 3, "minutes_between_retries": 2}
    assert not deco.statically_defined
    deco = parse_decorator_spec("retry:times=1,minutes_between_retries=0")
    assert deco.attributes == {"times": 1, "minutes_between_retries": 0}
    deco = parse_decorator_spec("environment:vars={'A': '1', 'B': 2}")
    assert isinstance(deco, EnvironmentDecorator) and deco.attributes["vars"] == {"A": "1", "B": "2"}
    deco = parse_decorator_spec("catch:var=err,print_exception=False")
    assert isinstance(deco, CatchDecorator) and deco.attributes == {"var": "err", "print_exception": False}
    deco = parse_decorator_spec("timeout:minutes=2,seconds=30")
    assert isinstance(deco, TimeoutDecorator) and deco.total_seconds == 150


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "Unknown decorator 'nope'"),
        ("retry:tims=2", "@retry has no attribute 'tims'; valid: times, minutes_between_retries"),
        ("retry:times=-1", r"@retry\(times=...\) must be an integer >= 0, got -1"),
        ("retry:times", "expected attribute=value"),
        ("timeout", "@timeout needs a positive duration"),
        ("catch:var=_hidden", "must be a public attribute name"),
        ("environment:vars=3", "must be a dict"),
        ("resources:cpu=-2", "must be a number >= 0"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises((FlowSpecError, FlowstoneException), match=message):
        parse_decorator_spec(spec)


def test_decorator_usage_forms() -> None:
    @retry
    @step
    def bare(self):
        pass

    @retry(times=5)
    @step
    def called(self):
        pass

    assert bare.decorators[0].attributes["times"] == 3
    assert called.decorators[0].attributes["times"] == 5
    with pytest.raises(FlowSpecError, match="applied twice"):
        retry(retry(step(lambda self: None)))


def test_exception_wrapper_pickles_with_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        wrapper = ExceptionWrapper(exc)
    restored = pickle.loads(pickle.dumps(wrapper))
    assert restored.type == "builtins.KeyError" and restored.exception == "'missing'"
    assert "Traceback" in str(restored) and "raise KeyError" in restored.stacktrace


def test_exceptions_metaflow_also_has_are_reported_under_metaflows_names() -> None:
    from flowstone.exception import ExternalCommandFailed, MetaflowException, TimeoutException

    class OwnError(MetaflowException):
        pass

    def wrapped(exc: BaseException) -> ExceptionWrapper:
        try:
            raise exc
        except BaseException as caught:
            return ExceptionWrapper(caught)

    assert wrapped(TimeoutException("slow")).type == "metaflow.plugins.timeout_decorator.TimeoutException"
    assert wrapped(ExternalCommandFailed("exit 1")).type == "metaflow.exception.ExternalCommandFailed"
    assert wrapped(MetaflowException("x")).type == "metaflow.exception.MetaflowException"
    assert wrapped(OwnError("mine")).type.endswith("test_decorators.OwnError")  # a subclass keeps its own name
    assert wrapped(KeyError("k")).type == "builtins.KeyError"
