"""Every error flowstone raises, under one root.

    FlowstoneException                  anything flowstone raises on purpose
    ├── ConfigurationError              a setting or a configuration object has an invalid value
    │   └── UnknownUser                 no variable names the user runs are attributed to
    ├── DataException                   the datastore cannot read or write what was asked
    │   ├── UnpicklableArtifactException    an artifact value cannot be serialized
    │   ├── StorageError                a storage backend failed (wraps the backend's own error)
    │   ├── IntegrityError              stored bytes fail their check (a blob's hash, a record's form)
    │   ├── TaskNotDone                 a task has no completed attempt (not started, running, or failed)
    │   └── RunInProgress               a run still running cannot be removed
    ├── ExecutorError                   an executor cannot start or run tasks (its server or cluster failed)
    ├── EnvironmentBuildError           a step's environment (@pypi, @conda) cannot be resolved or built
    ├── FlowstoneNotFound               a flow, run, step, task or artifact does not exist
    │   └── ChildNotFound               an object has no child of that name (in flowstone.client.base)
    ├── FlowstoneNamespaceMismatch      an object exists but is outside the current namespace
    ├── FlowSpecError                   a flow is malformed (graph or decorator problem)
    ├── ParameterError                  a parameter value is missing or invalid
    ├── MergeArtifactsException         merge_artifacts cannot merge what it was asked to
    │   ├── UnhandledInMergeArtifactsException   values differ between branches
    │   └── MissingInMergeArtifactsException     an included artifact is in no branch
    ├── ExternalCommandFailed           a command a step ran failed (raised by flows)
    ├── RunnerError                     a Runner's flow ended before it started a run (flowstone.client.runner)
    ├── TaggingError                    a tag change is not allowed (flowstone.client.tags)
    ├── NBRunnerInitializationError     NBRunner used outside a notebook (flowstone.client.notebook)
    ├── DeployerError                   a deployment to a scheduler was asked for (flowstone.client.deployer)
    ├── ParallelMapError                a parallel_map item failed in its child (flowstone.flow.multicore)
    ├── CardNotPresentException         no card matches what was asked (flowstone.cards.errors, as the next three)
    ├── IncorrectArgumentException      get_cards was given neither a Task nor a pathspec
    ├── IncorrectPathspecException      a pathspec given to get_cards names no task
    ├── ComponentOverwriteNotSupportedException   a card component id is taken
    ├── TaskFailed                      a task raised or crashed
    ├── TimeoutException                a step ran longer than its @timeout allows
    ├── RequestRefused                  flowstone ui refuses a request (answered with its HTTP status)
    └── S3Exception                     an operation of the S3 client failed (in flowstone.s3.errors)
        ├── S3NotFound                  the object does not exist
        │   └── S3BucketNotFound        the bucket does not exist
        ├── S3AccessDenied              the credentials are missing, wrong, or lack a permission
        ├── S3URLException              a URL or key is malformed, or a relative key has no root
        ├── S3InvalidObject             a value to store is of a type that cannot be stored
        ├── S3InvalidRange              a byte range lies outside the object
        ├── S3InsufficientDiskSpace     the local disk filled up while downloading
        └── S3TransientError            a transient failure outlasted every retry (or the deadline passed)

Where Metaflow has the same exception, the class carries Metaflow's qualified name (``metaflow_name``): it is
the name a caught exception is reported under (:func:`type_name`), so flows written for Metaflow that compare
type names keep working; ``flowstone.exception`` gives the classes Metaflow's names.

Third-party errors are translated at the boundary with ``raise ... from exc``; every message says what
happened and, where there is one, what to do about it.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

__all__ = [
    "ConfigurationError",
    "DataException",
    "EnvironmentBuildError",
    "ExceptionWrapper",
    "ExecutorError",
    "ExternalCommandFailed",
    "FlowSpecError",
    "FlowstoneException",
    "FlowstoneNamespaceMismatch",
    "FlowstoneNotFound",
    "IntegrityError",
    "MergeArtifactsException",
    "MissingInMergeArtifactsException",
    "ParameterError",
    "RunInProgress",
    "StorageError",
    "TaskFailed",
    "TaskNotDone",
    "TimeoutException",
    "UnhandledInMergeArtifactsException",
    "UnknownUser",
    "UnpicklableArtifactException",
    "failure_report",
    "type_name",
]


class FlowstoneException(Exception):
    """Root of every error flowstone raises on purpose."""

    metaflow_name = "metaflow.exception.MetaflowException"

    headline = "Flowstone error"

    def __init__(self, msg: str = "", **details: object) -> None:
        super().__init__(msg)
        self.message = msg
        self.details = details

    def __str__(self) -> str:
        return self.message


class DataException(FlowstoneException):
    """The datastore cannot read or write what was asked of it."""

    metaflow_name = "metaflow.datastore.exceptions.DataException"

    headline = "Data error"


class StorageError(DataException):
    """A storage backend failed; the backend's own error is the ``__cause__``."""

    headline = "Storage error"


class IntegrityError(DataException):
    """Stored bytes fail their check: a blob whose content does not match its hash, a record that does not
    parse. Nothing wrong is returned; the message names the object."""

    headline = "Damaged data"


class TaskNotDone(DataException):
    """A task, or the attempt asked for, has no completed attempt: it has not started, is running, or failed."""

    headline = "Task not done"


class RunInProgress(DataException):
    """A run that is still running (or whose runner, on another machine, cannot be checked) cannot be removed."""

    headline = "Run in progress"


class UnpicklableArtifactException(DataException):
    """An artifact's value cannot be serialized."""

    metaflow_name = "metaflow.datastore.exceptions.UnpicklableArtifactException"

    headline = "Cannot serialize artifact"

    def __init__(self, artifact_name: str, cause: BaseException | None = None) -> None:
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else "unknown reason"
        super().__init__(
            f"Artifact '{artifact_name}' cannot be serialized ({reason}). Keep only picklable values on "
            f"'self' (for example store a connection string instead of a connection), or give the value a "
            f"name starting with '_' so it is not persisted.",
            artifact_name=artifact_name,
        )
        self.artifact_name = artifact_name


class ConfigurationError(FlowstoneException):
    """A setting (an environment variable, a command-line option) or a configuration object is invalid."""

    headline = "Invalid configuration"


class UnknownUser(ConfigurationError):
    """No variable names the user runs are attributed to (``root`` does not count)."""

    metaflow_name = "metaflow.exception.MetaflowUnknownUser"

    headline = "Unknown user"

    def __init__(self, msg: str = "") -> None:
        super().__init__(
            msg
            or "flowstone could not tell who you are: set FLOWSTONE_USER (or METAFLOW_USER, or USER) to your user "
            "name. Runs are attributed to a user and 'root' is not one."
        )


class ExecutorError(FlowstoneException):
    """An executor cannot start or run tasks: its fork server died, or its cluster cannot be reached."""

    headline = "Executor error"


class EnvironmentBuildError(FlowstoneException):
    """A step's environment (``@pypi``, ``@conda``) cannot be resolved or built; uv's explanation is in the
    message."""

    headline = "Environment cannot be built"


class FlowstoneNotFound(FlowstoneException):
    """A flow, run, step, task or artifact does not exist."""

    metaflow_name = "metaflow.exception.MetaflowNotFound"

    headline = "Object not found"


class FlowstoneNamespaceMismatch(FlowstoneException):
    """An object exists but is not in the current namespace."""

    metaflow_name = "metaflow.exception.MetaflowNamespaceMismatch"

    headline = "Object not in the current namespace"


class FlowSpecError(FlowstoneException):
    """A flow definition is malformed."""

    headline = "Invalid flow"

    def __init__(self, msg: str, step_name: str | None = None, line_no: int | None = None) -> None:
        where = ""
        if step_name is not None:
            where = f"Step '{step_name}'" + (f" (line {line_no})" if line_no else "") + ": "
        super().__init__(where + msg)
        self.step_name = step_name
        self.line_no = line_no


class ParameterError(FlowstoneException):
    """A parameter value is missing or invalid."""

    headline = "Invalid parameter"


class MergeArtifactsException(FlowstoneException):
    """merge_artifacts found artifacts whose values differ between the joined branches."""

    headline = "Conflicting artifacts in merge"

    def __init__(self, msg: str, artifact_names: list[str]) -> None:
        super().__init__(msg)
        self.artifact_names = artifact_names


class UnhandledInMergeArtifactsException(MergeArtifactsException):
    """Artifacts have different values in the joined branches and the join did not set them itself."""

    metaflow_name = "metaflow.exception.UnhandledInMergeArtifactsException"


class MissingInMergeArtifactsException(MergeArtifactsException):
    """``include`` named artifacts that no joined branch has."""

    metaflow_name = "metaflow.exception.MissingInMergeArtifactsException"


class TaskFailed(FlowstoneException):
    """A task raised an exception or its process died."""

    headline = "Task failed"


class TimeoutException(FlowstoneException):
    """A step ran longer than its @timeout allows."""

    metaflow_name = "metaflow.plugins.timeout_decorator.TimeoutException"

    headline = "Step timed out"


class ExternalCommandFailed(FlowstoneException):
    """A command a step ran failed (raise it from a step, as in Metaflow)."""

    metaflow_name = "metaflow.exception.ExternalCommandFailed"
    headline = "External command failed"


def failure_report(exc: BaseException, debug: bool) -> str:
    """How a failure of flowstone's own work (storage, S3, setup; not a step's code) is shown: flowstone's errors as
    their headline and message, which say what failed and what to do; with ``debug`` (``FLOWSTONE_DEBUG=1``), and
    for any other error, the traceback with the chain of causes."""
    if debug or not isinstance(exc, FlowstoneException):
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{exc.headline}: {exc}\n(--debug or FLOWSTONE_DEBUG=1 shows the traceback and the chain of causes.)\n"


def type_name(exc: BaseException) -> str:
    """The qualified name an exception is reported under. flowstone's exceptions that Metaflow also has are
    reported under Metaflow's names (``metaflow_name``, set on the class itself, not inherited): flows written
    for Metaflow compare these names."""
    own = type(exc).__dict__.get("metaflow_name")
    return own or f"{type(exc).__module__}.{type(exc).__name__}"


class ExceptionWrapper(Exception):
    """A picklable record of an exception: its type, message and formatted traceback."""

    def __init__(self, exc: BaseException | None = None) -> None:
        super().__init__()
        if exc is not None:
            self.type = type_name(exc)
            self.exception = str(exc)
            tb = exc.__traceback__ or (sys.exc_info()[2] if sys.exc_info()[1] is exc else None)
            self.stacktrace = "".join(traceback.format_exception(type(exc), exc, tb)) if tb else None

    def __reduce__(self) -> tuple[Any, ...]:
        return ExceptionWrapper, (None,), self.__dict__

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        self.__dict__.update(state or {})

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return self.stacktrace or f"[no stacktrace]\n{self.type}: {self.exception}"
