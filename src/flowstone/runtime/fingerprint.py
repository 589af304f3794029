"""What a step's code is, for the cache key: its normalised source and all project-local code it reaches.

Sources are normalised by parsing and unparsing them without docstrings, so formatting and comments do not
count. From the step function, names are followed transitively: functions, classes and constants of the
project's own modules (files under the flow file's folder) are included; for anything from an installed package
only the package's version is recorded, and its code is not walked. ``self.<name>`` reaches the flow's other
methods. The step also records which artifacts it names (``self.x``) and whether it reads the run's identity
(``current.run_id`` and the like), which makes its results unfit for reuse in another run.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import sys
import textwrap
import types
from typing import Any, NamedTuple

__all__ = ["CodeFingerprint", "StepFingerprinter"]

_RUN_IDENTITY = frozenset({"run_id", "task_id", "pathspec", "origin_run_id", "parallel.control_task_id"})
_CONSTANT_TYPES = (int, float, complex, str, bytes, bool, type(None))
_MAX_CONSTANT_REPR = 4096


class CodeFingerprint(NamedTuple):
    """The code part of a step's cache key."""

    sources: dict[str, str]  # qualified name -> normalised source
    constants: dict[str, str]  # qualified name -> repr
    packages: dict[str, str]  # top-level package -> version
    self_attributes: frozenset[str]  # names used as self.<name> in the reached code
    reads_run_identity: bool


def normalised_source(obj: Any) -> str | None:
    """Source of a function or class without docstrings, comments or formatting; None if unavailable."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _is_constant(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _CONSTANT_TYPES):
        return True
    if depth < 3 and isinstance(value, (tuple, list, frozenset, set)):
        return all(_is_constant(v, depth + 1) for v in value)
    if depth < 3 and isinstance(value, dict):
        return all(_is_constant(k, depth + 1) and _is_constant(v, depth + 1) for k, v in value.items())
    return False


class _References(ast.NodeVisitor):
    """Names a piece of code loads: plain names, dotted chains (a.b.c), and self.<name>."""

    def __init__(self) -> None:
        self.chains: set[tuple[str, ...]] = set()
        self.self_attributes: set[str] = set()
        self.current_attributes: set[str] = set()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name):
            chain.append(current.id)
            chain.reverse()
            if chain[0] == "self":
                self.self_attributes.add(chain[1])
            elif chain[0] == "current":
                self.current_attributes.update((chain[1], ".".join(chain[1:3])))  # 'parallel.control_task_id' too
            else:
                self.chains.add(tuple(chain))
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.chains.add((node.id,))


class StepFingerprinter:
    """Fingerprints the steps of one flow class; results are cached for the life of the object (one run)."""

    def __init__(self, flow_cls: type) -> None:
        self.flow_cls = flow_cls
        flow_file = inspect.getsourcefile(flow_cls) or ""
        self.project_root = os.path.dirname(os.path.realpath(flow_file))
        self._cache: dict[str, CodeFingerprint] = {}
        self._package_versions: dict[str, str] = {}
        self._stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names)

    def step(self, step_name: str) -> CodeFingerprint:
        """The step function's code, with the code its decorators run around it (user step decorators)."""
        if step_name not in self._cache:
            function = getattr(self.flow_cls, step_name)
            decorator_code = [obj for deco in getattr(function, "decorators", ()) for obj in deco.keyed_code()]
            self._cache[step_name] = self._walk([function, *decorator_code])
        return self._cache[step_name]

    # -- classification ---------------------------------------------------------------------------
    def _is_local_file(self, path: str | None) -> bool:
        if not path:
            return False
        path = os.path.realpath(path)
        parts = path.split(os.sep)
        return path.startswith(self.project_root + os.sep) and "site-packages" not in parts

    def _module_is_local(self, module: types.ModuleType) -> bool:
        return self._is_local_file(getattr(module, "__file__", None))

    def _package_version(self, module_name: str) -> str | None:
        top = module_name.split(".")[0]
        if top in self._stdlib or top == "flowstone":
            return None
        if top not in self._package_versions:
            self._package_versions[top] = _distribution_version(top)
        return self._package_versions[top]

    def _name_of(self, obj: Any) -> str:
        """``path/relative/to/project.py:Qualified.name``: the same however the flow was loaded (script or import)."""
        try:
            path = os.path.relpath(os.path.realpath(inspect.getsourcefile(obj) or ""), self.project_root)
        except (TypeError, ValueError):
            path = getattr(obj, "__module__", "?")
        return f"{path}:{getattr(obj, '__qualname__', '?')}"

    # -- the walk ---------------------------------------------------------------------------------
    def _walk(self, roots: list[Any]) -> CodeFingerprint:
        sources: dict[str, str] = {}
        constants: dict[str, str] = {}
        packages: dict[str, str] = {}
        self_attributes: set[str] = set()
        reads_identity = False
        queue: list[Any] = list(roots)
        seen: set[int] = set()
        while queue:
            obj = queue.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            name = self._name_of(obj)
            source = normalised_source(obj)
            if source is None:
                continue
            sources[name] = source
            refs = _References()
            refs.visit(ast.parse(source))
            reads_identity = reads_identity or bool(refs.current_attributes & _RUN_IDENTITY)
            for attr in refs.self_attributes:
                member = getattr(self.flow_cls, attr, None)
                if inspect.isfunction(member):
                    if not getattr(member, "is_step", False) and self._is_local_file(inspect.getsourcefile(member)):
                        queue.append(member)  # a helper method of the flow; flowstone's own (next, ...) are not
                else:
                    self_attributes.add(attr)
            namespace = {**getattr(obj, "__globals__", vars(sys.modules.get(obj.__module__, builtins)))}
            namespace.update(_closure_vars(obj))
            for chain in refs.chains:
                self._resolve(chain, namespace, queue, constants, packages)
        return CodeFingerprint(sources, constants, packages, frozenset(self_attributes), reads_identity)

    def _resolve(
        self,
        chain: tuple[str, ...],
        namespace: dict[str, Any],
        queue: list[Any],
        constants: dict[str, str],
        packages: dict[str, str],
    ) -> None:
        if chain[0] not in namespace:
            return  # a builtin, a local variable or an argument
        value = namespace[chain[0]]
        qualified = chain[0]
        for part in chain[1:]:
            if not isinstance(value, types.ModuleType) or not self._module_is_local(value):
                break  # follow attributes only through the project's own modules
            if not hasattr(value, part):
                break
            value, qualified = getattr(value, part), f"{qualified}.{part}"
        self._record(value, qualified, namespace, queue, constants, packages)

    def _record(
        self,
        value: Any,
        qualified: str,
        namespace: dict[str, Any],
        queue: list[Any],
        constants: dict[str, str],
        packages: dict[str, str],
    ) -> None:
        if isinstance(value, types.ModuleType):
            if not self._module_is_local(value):
                version = self._package_version(value.__name__)
                if version:
                    packages[value.__name__.split(".")[0]] = version
            return
        module_name = getattr(value, "__module__", None)
        if inspect.isfunction(value) or inspect.isclass(value):
            module = sys.modules.get(module_name or "")
            if module is not None and self._module_is_local(module):
                queue.append(value)
            elif module_name:
                version = self._package_version(module_name)
                if version:
                    packages[module_name.split(".")[0]] = version
            return
        if _is_constant(value):
            text = repr(value)
            if len(text) <= _MAX_CONSTANT_REPR:
                constants[qualified] = text
            else:
                import blake3

                constants[qualified] = "blake3:" + blake3.blake3(text.encode()).hexdigest()


def _closure_vars(obj: Any) -> dict[str, Any]:
    code = getattr(obj, "__code__", None)
    cells = getattr(obj, "__closure__", None)
    if code is None or not cells:
        return {}
    values = {}
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            values[name] = cell.cell_contents
        except ValueError:
            continue
    return values


def _distribution_version(top_level: str) -> str:
    """The installed version of the distribution providing ``top_level`` ('unknown' if none is found)."""
    module = sys.modules.get(top_level)
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    import importlib.metadata  # slow to import: only when a package has no __version__

    try:
        return importlib.metadata.version(top_level)
    except importlib.metadata.PackageNotFoundError:
        pass
    for dist in importlib.metadata.packages_distributions().get(top_level, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"
