"""``FlowSpec``: the base class of every flow.

Whatever a step assigns to ``self`` becomes an artifact. Artifacts of the parent step are read lazily: the first
access to ``self.x`` loads ``x`` from the datastore; artifacts a step never touches are passed on to its
children by reference, without being loaded or stored again.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from typing import Any, ClassVar

from flowstone.datastore import ArtifactRecord
from flowstone.errors import (
    FlowSpecError,
    FlowstoneException,
    MissingInMergeArtifactsException,
    UnhandledInMergeArtifactsException,
)
from flowstone.flow.artifacts import (
    _NOT_STORABLE,
    ArtifactSource,
    ForeachFrame,
    Inputs,
    InputView,
    frame_input,
)
from flowstone.flow.graph import FlowGraph
from flowstone.flow.parameters import Parameter
from flowstone.flow.transitions import Transition, make_transition

__all__ = ["EPHEMERAL_NAMES", "FlowSpec"]

#: Attribute names that never become artifacts (besides names starting with '_').
EPHEMERAL_NAMES = frozenset({"input", "index", "name", "script_name"})
#: Public names of FlowSpec that are not constants of a flow, whatever their value.
_NOT_CONSTANTS = frozenset({"cmd", "foreach_stack", "index", "input", "script_name", "name"})
_IMMUTABLE_TYPES = (int, float, complex, str, bytes, bool, type(None), range)


def _is_immutable(value: Any) -> bool:
    if isinstance(value, _IMMUTABLE_TYPES):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_immutable(v) for v in value)
    return False


class FlowSpec:
    """Base class of flows. Subclass it, define ``@step`` methods, and call ``MyFlow()`` under ``__main__``."""

    _graph_cache: ClassVar[dict[type, FlowGraph]] = {}
    _constants_cache: ClassVar[dict[type, dict[str, Any]]] = {}

    def __init__(self, use_cli: bool = True) -> None:
        self._task: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}
        self._transition: Transition | None = None
        if use_cli:
            from flowstone.cli.flow_cli import run_flow_cli

            run_flow_cli(type(self))

    # -- class-level introspection ----------------------------------------------------------------
    @classmethod
    def _get_graph(cls) -> FlowGraph:
        graph = FlowSpec._graph_cache.get(cls)
        if graph is None:
            graph = FlowSpec._graph_cache[cls] = FlowGraph(cls)
        return graph

    @classmethod
    def _get_constants(cls) -> dict[str, Any]:
        """The flow's class-level constants: public class attributes that are not parameters, methods, steps,
        properties or classes. Like parameters they are read-only in steps and stored with every task."""
        constants = FlowSpec._constants_cache.get(cls)
        if constants is None:
            constants = {}
            for name in dir(cls):
                if name.startswith("_") or name in _NOT_CONSTANTS:
                    continue
                value = inspect.getattr_static(cls, name)
                # descriptors (steps, methods, properties, parameters), classes and callables are no constants
                if not hasattr(type(value), "__get__") and not isinstance(value, type) and not callable(value):
                    constants[name] = value
            FlowSpec._constants_cache[cls] = constants
        return constants

    @classmethod
    def _get_parameters(cls) -> list[tuple[str, Parameter]]:
        """(attribute name, Parameter) for every parameter, in definition order (base classes first)."""
        seen: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Parameter):
                    seen[attr] = value
        return list(seen.items())

    @property
    def name(self) -> str:
        """The flow's name: its class name, unless set (a subclass's ``__init__`` may, as in Metaflow)."""
        return self.__dict__.get("_flow_name", type(self).__name__)

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_flow_name"] = value

    # Metaflow's private names that flows and tools read: the graph, the running step, the foreach stack
    @property
    def _graph(self) -> FlowGraph:
        return type(self)._get_graph()

    @property
    def _current_step(self) -> str | None:
        return self._task.get("step_name")

    @property
    def _foreach_stack(self) -> list[ForeachFrame]:
        return list(self._task.get("foreach_stack", []))

    @property
    def script_name(self) -> str:
        return os.path.basename(inspect.getfile(type(self)))

    # -- binding to a running task ----------------------------------------------------------------
    def _bind_task(
        self,
        step_name: str,
        source: ArtifactSource,
        inputs: Inputs | None = None,
        parameter_values: dict[str, Any] | None = None,
        foreach_stack: list[ForeachFrame] | None = None,
        max_num_splits: int = 100,
        datastore: Any = None,
    ) -> None:
        """Prepare the flow object to run ``step_name`` (called by the task runner, not by users).

        ``datastore`` is the task's own TaskDataStore, reachable as ``self._datastore`` (e.g. to save custom
        metadata, as in Metaflow).
        """
        self._datastore = datastore
        self._task = {
            "step_name": step_name,
            "source": source,
            "inputs": inputs,
            "parameter_values": dict(parameter_values or {}),
            "foreach_stack": list(foreach_stack or []),
            "max_num_splits": max_num_splits,
        }
        self._loaded = {}
        self._transition = None

    def _parameter_value(self, attribute_name: str) -> Any:
        values = self._task.get("parameter_values", {})
        if attribute_name in values:
            return values[attribute_name]
        if attribute_name in self._loaded:
            return self._loaded[attribute_name]
        return self._load_artifact(attribute_name)

    def _load_artifact(self, name: str) -> Any:
        """Load an artifact of the parent step and keep it on the instance, so later reads cost nothing."""
        source: ArtifactSource | None = self.__dict__.get("_task", {}).get("source")
        if source is None or name not in source:
            raise AttributeError(f"Flow {type(self).__name__} has no attribute '{name}'")
        value = source.load(name)
        self._loaded[name] = value
        if not isinstance(getattr(type(self), name, None), Parameter):
            self.__dict__[name] = value
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_task", "_loaded", "_transition"):
            raise AttributeError(name)
        return self._load_artifact(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self)._get_constants():
            raise AttributeError(
                f"'{name}' is a constant of flow {type(self).__name__}: flow-level attributes and parameters cannot "
                f"be modified in a step. Assign the new value to another attribute."
            )
        if isinstance(value, (FlowSpec, Inputs, InputView)):
            raise FlowstoneException(
                f"Cannot assign {'self' if value is self else type(value).__name__} to self.{name}: "
                f"a flow or a join's inputs cannot be stored as an artifact. Store the values you need instead."
            )
        object.__setattr__(self, name, value)

    def __getstate__(self) -> Any:
        raise FlowstoneException(_NOT_STORABLE)

    # -- foreach ----------------------------------------------------------------------------------
    @property
    def index(self) -> int | None:
        """This branch's position in the innermost foreach, or None outside a foreach."""
        stack = self._task.get("foreach_stack")
        return stack[-1].index if stack else None

    @property
    def input(self) -> Any:
        """The item of the innermost foreach this branch processes, or None outside a foreach."""
        stack = self._task.get("foreach_stack")
        if not stack:
            return None
        return frame_input(self, stack[-1])

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """(index, number of splits, item) for each enclosing foreach, outermost first."""
        return [(f.index, f.num_splits, frame_input(self, f)) for f in self._task["foreach_stack"]]

    # -- transitions ------------------------------------------------------------------------------
    def next(self, *steps: Any, **options: Any) -> None:
        """Name the step(s) to run after this one (see ``flow/transitions.py`` for the forms): one step, a split
        ``(self.a, self.b)``, ``foreach='items'``, ``num_parallel=N`` or a switch ``({...}, condition='x')``."""
        step_name = self._task.get("step_name")
        if step_name is None:
            raise FlowstoneException("self.next() can only be called inside a running step.")
        node = self._get_graph()[step_name]
        if self._transition is not None:
            raise FlowSpecError("self.next() was called more than once; call it once, as the last statement.",
                                step_name, node.tail_next_lineno or None)  # fmt: skip
        self._transition = make_transition(self, node, steps, dict(options))

    # -- joins ------------------------------------------------------------------------------------
    def merge_artifacts(
        self, inputs: Inputs, exclude: Iterable[str] | None = None, include: Iterable[str] | None = None
    ) -> None:
        """Take over the artifacts of the joined branches: those equal in every branch that has them.

        Artifacts already set on self win. Artifacts whose content differs between branches are an error
        (naming them and the branches), unless set on self before the call; ``include`` or ``exclude`` limit
        what is merged.
        """
        step_name = self._task.get("step_name")
        if step_name is None or self._task.get("inputs") is None:
            raise FlowstoneException(f"merge_artifacts can only be called in a join step; '{step_name}' is not one.")
        include_list, exclude_list = list(include or []), list(exclude or [])
        if include_list and exclude_list:
            raise FlowstoneException("merge_artifacts takes include or exclude, not both.")
        parameter_names = {attr for attr, _ in self._get_parameters()}
        chosen: dict[str, InputView] = {}
        branches_by_content: dict[str, dict[str, list[str]]] = {}  # name -> content key -> branches
        for view in inputs:
            for name, record in view._datastore.records.items():
                wanted = name in include_list if include_list else name not in exclude_list
                if not wanted or name in parameter_names or self._has_own(name):
                    continue
                chosen.setdefault(name, view)
                branches_by_content.setdefault(name, {}).setdefault(record.key, []).append(view.pathspec)
        unresolved = sorted(n for n, by_key in branches_by_content.items() if len(by_key) > 1)
        if unresolved:
            details = "\n".join(
                f"  {name}: " + " | ".join(", ".join(b) for b in branches_by_content[name].values())
                for name in unresolved
            )
            raise UnhandledInMergeArtifactsException(
                f"Step '{step_name}' cannot merge artifacts whose values differ between branches: "
                f"{', '.join(unresolved)}.\nBranches with differing values:\n{details}\n"
                f"Set them on self (self.<name> = ...) before calling merge_artifacts, or exclude them.",
                unresolved,
            )
        missing = [n for n in include_list if n not in chosen and not self._has_own(n)]
        if missing:
            raise MissingInMergeArtifactsException(
                f"Step '{step_name}' asked merge_artifacts to include {', '.join(missing)}, "
                f"but no joined branch has {'it' if len(missing) == 1 else 'them'}.",
                missing,
            )
        source: ArtifactSource = self._task["source"]
        for name, view in chosen.items():
            source.add(name, view._datastore)

    def _has_own(self, name: str) -> bool:
        return name in self.__dict__ or name in self._task["source"]

    # -- persistence plan -------------------------------------------------------------------------
    def _artifacts_to_persist(self) -> tuple[list[tuple[str, Any]], list[tuple[str, ArtifactRecord]]]:
        """(values to store, records to pass on by reference) for the end of the step."""
        source: ArtifactSource = self._task["source"]
        values, refs = [], []
        for name, value in self.__dict__.items():
            if name.startswith("_") or name in EPHEMERAL_NAMES:
                continue
            loaded = self._loaded.get(name, _MISSING)
            if loaded is value and name in source and _is_immutable(value):
                refs.append((name, source.record(name)))  # read, and cannot have changed
            else:
                values.append((name, value))  # new, reassigned, or possibly changed in place
        refs.extend((name, source.record(name)) for name in source.names() if name not in self.__dict__)
        values.extend(self._task["parameter_values"].items())  # the start step stores the parameters
        if not self._get_graph()[self._task["step_name"]].in_funcs:  # the first step stores the constants
            values.extend(type(self)._get_constants().items())
        values.append(("name", type(self).__name__))  # every task records its flow's name, as Metaflow's do
        return values, refs


_MISSING = object()
