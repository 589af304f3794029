"""What a step found through the Client API: the ``client`` kind of :mod:`flowstone.reads`.

A step that reads another flow's results (``Flow('Train').latest_run.data.model``) depends on which run that
resolves to today. While a task runs, the Client API records the questions the step's code asked and their
answers:

- ``latest_run``, ``latest_successful_run`` of a flow: the run id (or None);
- the runs of a flow, listed newest first (``for run in Flow(...)``, ``runs(tags)``): the ids listed, and whether
  the listing reached its end;
- the tasks of a step, listed newest first (``step.task``): likewise;
- an artifact's value loaded: its content key.

Each question keeps the namespace and the datastore it was asked in. A lookup asks each question again: a newer
run of the flow, a task run again, an artifact that changed makes the step run again. The questions flowstone
asks itself to answer one (the runs listed to find the latest successful one) are not recorded on their own.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flowstone import reads
from flowstone.reads.callers import made_by_step
from flowstone.settings import use_settings

if TYPE_CHECKING:
    from flowstone.client.base import ClientObject

__all__ = ["KIND", "check_client_reads", "describe_client_read", "record_answer", "recorded_listing"]

KIND = "client"
_CLIENT_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _asked_by_step() -> bool:
    """Whether the step's code asked (not flowstone's, nor the Client API answering another question)."""
    return reads.is_recording() and made_by_step(1, through=_CLIENT_DIR)


def _where(obj: ClientObject) -> list[Any]:
    namespace = obj._current_namespace if obj._namespace_check else None
    return [namespace, obj._ds[0], obj._ds[1]]


def record_answer(query: str, obj: ClientObject, answer: str | None) -> None:
    """Note that ``obj.<query>`` (``latest_run``, ``latest_successful_run``) gave ``answer`` (an id, or None)."""
    if _asked_by_step():
        reads.record(KIND, (query, obj.pathspec, *_where(obj)), [query, obj.pathspec, *_where(obj), answer])


def record_artifact(artifact: ClientObject, key: str) -> None:
    """Note that the value of ``artifact`` was loaded, and had content ``key``."""
    if _asked_by_step():
        answer = ["artifact", artifact.pathspec, artifact._attempt, *_where(artifact)[1:], key]
        reads.record(KIND, tuple(answer[:5]), answer)


def _more_complete(old: list[Any], new: list[Any]) -> list[Any]:
    old_ids, old_done, new_ids, new_done = *old[-2:], *new[-2:]
    return new if (new_done, len(new_ids)) > (old_done, len(old_ids)) else old


def recorded_listing(query: str, parent: ClientObject, tags: Iterable[str], children: Iterator[Any]) -> Iterator[Any]:
    """``children`` (the runs of a flow, the tasks of a step, newest first), recording the ids listed so far as the
    answer to ``query`` ('runs', 'tasks'), and whether the listing reached its end."""
    if not _asked_by_step():
        yield from children
        return
    key = (query, parent.pathspec, *_where(parent), tuple(tags))
    ids: list[str] = []

    def note(done: bool) -> None:
        answer = [query, parent.pathspec, *_where(parent), sorted(tags), list(ids), done]
        reads.record(KIND, key, answer, merge=_more_complete)

    for child in children:
        ids.append(child.id)
        note(False)
        yield child
    note(True)


# -- checking them again ------------------------------------------------------------------------------------------
def check_client_reads(answers: list[Any], context: reads.CheckContext) -> str | None:
    """The first question that has another answer now (in words), or None."""
    with use_settings(context.settings):
        for answer in answers:
            changed = _ASK_AGAIN[answer[0]](*answer[1:])
            if changed:
                return changed
    return None


def _flow(name: str, namespace: str | None, ds_type: str, root: str) -> Any:
    from flowstone.client.runs import Flow

    return Flow._unread(name, _current_namespace=namespace, _namespace_check=namespace is not None, _ds=(ds_type, root))


def _latest_again(query: str, name: str, namespace: str | None, ds_type: str, root: str, was: str | None) -> str:
    run = getattr(_flow(name, namespace, ds_type, root), query)
    now = run.id if run is not None else None
    if now == was:
        return ""
    return f"Flow('{name}').{query} changed from {_run_name(name, was)} to {_run_name(name, now)}"


def _run_name(flow: str, run_id: str | None) -> str:
    return f"{flow}/{run_id}" if run_id else "none"


def _listing_again(query: str, pathspec: str, namespace: str | None, ds_type: str, root: str, tags: list[str],
                   ids: list[str], done: bool) -> str:  # fmt: skip
    if query == "runs":
        children = _flow(pathspec, namespace, ds_type, root).runs(*tags)
    else:
        from flowstone.client.tasks import Step

        children = iter(Step._unread(pathspec, _namespace_check=False, _ds=(ds_type, root)))
    now = [child.id for child in itertools.islice(children, len(ids) + 1)]
    if now[: len(ids)] == ids and (not done or len(now) == len(ids)):
        return ""
    what = f"the runs of Flow('{pathspec}')" + (f" tagged {', '.join(tags)}" if tags else "")
    if query == "tasks":
        what = f"the tasks of {pathspec}"
    return f"{what} changed (then: {_ids(ids)}; now: {_ids(now)})"


def _ids(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (" ..." if len(ids) > 3 else "") if ids else "none"


def _artifact_again(pathspec: str, attempt: int | None, ds_type: str, root: str, key: str) -> str:
    from flowstone.client.tasks import Task
    from flowstone.errors import FlowstoneException

    task_pathspec, name = pathspec.rsplit("/", 1)
    try:
        records = Task._unread(task_pathspec, attempt, _namespace_check=False, _ds=(ds_type, root))._datastore().records
    except FlowstoneException:
        return f"the artifact {pathspec} it loaded is gone"
    record = records.get(name)
    if record is None:
        return f"the artifact {pathspec} it loaded is gone"
    return "" if record.key == key else f"the artifact {pathspec} it loaded changed"


_ASK_AGAIN: dict[str, Any] = {
    "latest_run": lambda *a: _latest_again("latest_run", *a),
    "latest_successful_run": lambda *a: _latest_again("latest_successful_run", *a),
    "runs": lambda *a: _listing_again("runs", *a),
    "tasks": lambda *a: _listing_again("tasks", *a),
    "artifact": _artifact_again,
}


def describe_client_read(answer: list[Any]) -> str:
    query, pathspec, *rest = answer
    if query in ("latest_run", "latest_successful_run"):
        return f"Flow('{pathspec}').{query} -> {_run_name(pathspec, rest[-1])}"
    if query == "artifact":
        return f"artifact {pathspec} (sha {str(rest[-1])[:12]})"
    what = f"runs of Flow('{pathspec}')" if query == "runs" else f"tasks of {pathspec}"
    return f"{what}: {_ids(rest[-2])}" + ("" if rest[-1] else " (the first ones)")


reads.register_kind(KIND, check_client_reads, describe_client_read)
