"""Running a task on another machine (a Ray node): load the flow from the run's code package, then run the task.

The flow class lives in the ``__main__`` module of the runner, which no other machine has. So a remote task
carries the code package's content key: on the node, the package is fetched from the datastore once and
extracted into a folder named by that key (shared by every worker of the node), the flow file is executed there
as ``__main__`` (classes it defines keep the names they have in local runs, so artifacts pickle the same way),
and :func:`~flowstone.runtime.task.run_task` runs as it does locally. Artifacts, metadata and logs go through
the datastore; only the :class:`~flowstone.runtime.task.TaskResult` returns to the runner.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
import os
import shutil
import sys
import tarfile
import tempfile
import types
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from flowstone.datastore import FlowDataStore
from flowstone.environments.build import BuiltEnvironment
from flowstone.errors import FlowstoneException
from flowstone.executors.base import Executor
from flowstone.executors.remote import RemoteExecutor, RemoteTask, TaskResources
from flowstone.executors.spawned import METAFLOW_IMPORTS
from flowstone.flow.decorators import StepDecorator
from flowstone.flow.flowspec import FlowSpec
from flowstone.runtime.package import CODE_PACKAGE_ROOT
from flowstone.runtime.step_environments import task_variables
from flowstone.runtime.task import run_task
from flowstone.runtime.task_spec import TaskResult, TaskSpec

__all__ = [
    "CodePackageRef",
    "FlowFileLoaded",
    "check_datastore_is_shared",
    "check_resources",
    "loading_flow_file",
    "remote_task",
    "resources_of",
    "run_packaged_task",
    "runtime_name",
    "task_function",
]

#: Folder (under the system's temporary folder) where nodes keep extracted code packages, one per key.
CACHE_DIRNAME = "flowstone-code"
_MiB = 1 << 20


class CodePackageRef(NamedTuple):
    """Where a flow's code is: the package's content key, the flow file's name in it, the flow's module and
    class names."""

    key: str
    flow_file: str
    module: str
    class_name: str


class FlowFileLoaded(Exception):
    """Raised by the flow file's ``MyFlow()`` line while :func:`load_flow_class` executes the file."""


_loading = False
_loaded: dict[CodePackageRef, type[FlowSpec]] = {}


def loading_flow_file() -> bool:
    """True while a flow file is being executed to define its flow (not to run its command line)."""
    return _loading


# -- on the runner --------------------------------------------------------------------------------
def resources_of(decorators: Iterable[StepDecorator]) -> TaskResources:
    """The machine resources a step's decorators ask for (``@resources(cpu=, memory= (MiB), gpu=)``): the
    largest request of each kind."""
    requests = [r for r in (d.resource_request() for d in decorators) if r is not None]
    default = TaskResources()
    asked = {kind: [float(r[kind]) for r in requests if r.get(kind) is not None] for kind in ("cpu", "memory", "gpu")}
    cpu = max(asked["cpu"]) if asked["cpu"] else default.cpu
    memory = int(max(asked["memory"]) * _MiB) if asked["memory"] else default.memory_bytes
    gpu = int(max(asked["gpu"])) if asked["gpu"] else default.gpu
    return TaskResources(cpu, memory, gpu)


def code_package_ref(flow_cls: type[FlowSpec], key: str) -> CodePackageRef:
    module = sys.modules[flow_cls.__module__]
    return CodePackageRef(key, os.path.basename(module.__file__ or ""), flow_cls.__module__, flow_cls.__name__)


def task_function(executor: Executor, flow_cls: type[FlowSpec], spec: TaskSpec, fds: FlowDataStore,
                  environment: BuiltEnvironment | None = None) -> Callable[[], Any]:  # fmt: skip
    """The function that runs the task ``spec`` on ``executor`` (picklable: it may travel to another machine).
    A task with its own ``environment`` loads the flow from the run's code package in that environment's Python,
    as a remote task does; artifacts cross through the datastore."""
    if isinstance(executor, RemoteExecutor):
        if environment is not None:
            raise FlowstoneException(f"Step '{spec.step_name}' has its own environment (@pypi/@conda): such steps "
                                     f"run on this machine only; run without --with ray.")  # fmt: skip
        return remote_task(flow_cls, spec, fds)
    if environment is not None:
        task = remote_task(flow_cls, spec, fds)
        variables = {**task.environment, **task_variables(environment)}
        return dataclasses.replace(task, interpreter=environment.python, environment=variables)
    return functools.partial(run_task, flow_cls, spec, fds)


def runtime_name(executor: Executor) -> str:
    """Where the executor runs tasks, as recorded with a run (``runtime:<name>``)."""
    return executor.runtime_name if isinstance(executor, RemoteExecutor) else "local"


def remote_task(flow_cls: type[FlowSpec], spec: TaskSpec, fds: FlowDataStore) -> RemoteTask:
    """The task for a remote executor: it loads the flow from the run's code package on the node."""
    if spec.run.code_package is None:
        raise FlowstoneException("A remote task needs the run's code package, and this run has none.")
    ref = code_package_ref(flow_cls, spec.run.code_package)
    return RemoteTask(  # the run's settings travel in the spec; credentials stay with the nodes
        run=functools.partial(run_packaged_task, ref, spec, fds),
        prepare=functools.partial(fetch_code_package, ref, fds),
        prepare_key=f"{ref.key}/{ref.module}/{ref.class_name}",
        resources=resources_of(spec.decorators),
        # a flow file run with `flowstone exec` imports `metaflow`: the node loading it must serve that too
        environment={METAFLOW_IMPORTS: "1"} if os.environ.get(METAFLOW_IMPORTS) else {},
        gang=spec.gang,
    )


def check_resources(executor: RemoteExecutor, decorators: dict[str, tuple[StepDecorator, ...]]) -> None:
    """Refuse a run before it starts if a step asks for more than any machine of the executor has."""
    problems = []
    for step_name, step_decorators in decorators.items():
        problem = executor.unsatisfiable(resources_of(step_decorators))
        if problem is not None:
            problems.append(f"Step '{step_name}': {problem}")
    if problems:
        raise FlowstoneException(
            "\n".join(problems) + "\nLower the step's @resources, or add a node that has them to the cluster."
        )


def check_datastore_is_shared(executor: RemoteExecutor, fds: FlowDataStore) -> None:
    """Refuse a datastore the executor's machines cannot all reach; keep tasks on this machine if only it can."""
    if fds.TYPE == "memory":
        raise FlowstoneException("The in-memory datastore lives in one process: remote tasks cannot reach it.")
    if fds.TYPE != "local":
        return
    if executor.node_count > 1:
        raise FlowstoneException(
            f"The local datastore at {fds.datastore_root} is on this machine only, and the {executor.runtime_name} "
            f"cluster has {executor.node_count} nodes that would not share it. Use a shared datastore: "
            f"--datastore s3 (with FLOWSTONE_DATASTORE_SYSROOT_S3) or --datastore azure."
        )
    executor.pin_to_this_machine()  # nodes that join later could not see it either


# -- on the node ----------------------------------------------------------------------------------
def package_folder(key: str) -> str:
    """The node's folder for the code package ``key`` (it holds the package's files once fetched)."""
    return os.path.join(tempfile.gettempdir(), CACHE_DIRNAME, key, CODE_PACKAGE_ROOT)


def fetch_code_package(ref: CodePackageRef, fds: FlowDataStore) -> functools.partial[type[FlowSpec]]:
    """Extract the code package into this node's cache (once per node: concurrent workers race harmlessly);
    return the warm-up that loads the flow class."""
    folder = package_folder(ref.key)
    if not os.path.isdir(folder):
        parent = os.path.dirname(os.path.dirname(folder))
        os.makedirs(parent, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".partial-", dir=parent)
        try:
            blob = fds.ca_store.load_blob(ref.key)  # verified against its hash
            with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
                tar.extractall(scratch, filter="data")
            try:
                os.rename(scratch, os.path.dirname(folder))
            except OSError:  # another worker extracted it first: the same content, by its key
                pass
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return functools.partial(load_flow_class, ref)


def load_flow_class(ref: CodePackageRef) -> type[FlowSpec]:
    """Load the flow file from the node's copy of the code package (once per process); return the flow class."""
    flow_cls = _loaded.get(ref)
    if flow_cls is not None:
        return flow_cls
    global _loading
    folder = package_folder(ref.key)
    path = os.path.join(folder, ref.flow_file)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the flow's own modules import each other by name, as they do locally
    if ref.module == "__main__":
        module = types.ModuleType("__main__")
        module.__file__ = path
        sys.modules["__main__"] = module
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        _loading = True
        try:
            exec(code, module.__dict__)
        except FlowFileLoaded:
            pass  # the file's `MyFlow()` line: everything above it is defined
        finally:
            _loading = False
    else:
        spec = importlib.util.spec_from_file_location(ref.module, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[ref.module] = module
        spec.loader.exec_module(module)
    flow_cls = getattr(module, ref.class_name, None)
    if not (isinstance(flow_cls, type) and issubclass(flow_cls, FlowSpec)):
        raise FlowstoneException(f"The code package {ref.key} defines no flow '{ref.class_name}' in {ref.flow_file}.")
    _loaded[ref] = flow_cls
    return flow_cls


def run_packaged_task(ref: CodePackageRef, spec: TaskSpec, fds: FlowDataStore) -> TaskResult:
    """Run one attempt of a task with the flow loaded from its code package (in the task's own process)."""
    if ref not in _loaded:  # not warmed up in this process's ancestry
        fetch_code_package(ref, fds)
    flow_cls = load_flow_class(ref)
    os.chdir(package_folder(ref.key))  # relative paths mean what they mean beside the flow file
    return run_task(flow_cls, spec, fds)
