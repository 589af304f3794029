"""Cross-run step caching: a task whose code, inputs and environment match an earlier successful task of the
same flow is not run; the earlier task's results are reused by reference.

The key of a task has three parts, kept (as ``components``) in the task's metadata so ``why`` can say what
changed:

- code: the step's normalised source and the project-local code it reaches (as content keys of the sources,
  which are kept in the content-addressed store), project constants, decorators, ``@cache(version=, files=)``;
- inputs: the content keys of every artifact the step can see (parameters are artifacts too). In a foreach, the
  iterated artifact is replaced by the hash of this branch's item and its index, so adding an item to a foreach
  runs one more task, not all of them (unless the step names the whole artifact, ``self.items``). A task of a
  @parallel step adds its node index and the number of nodes; a task on a loop, its round (``iteration``), so
  a round whose inputs equal an earlier round's is still a task of its own. The flow's config values count for
  every step (a config can change a step through its decorators or mutators, not only through what it reads);
- environment: the Python version and the versions of the installed packages the code uses.

Beside the key, what the earlier task read from outside its artifacts (``flowstone.reads``: files, environment
variables, S3 objects, runs found through the Client API, the network, unseeded random numbers) must still give
the same answers for it to be reused (``runtime/read_checks.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from flowstone.datastore import ArtifactRecord, FlowDataStore, TaskDataStore
from flowstone.datastore.hashing import hash_chunks
from flowstone.datastore.records import dump_json
from flowstone.environments.build import BuiltEnvironment
from flowstone.errors import IntegrityError, TaskNotDone
from flowstone.flow.artifacts import item_at
from flowstone.flow.configure import applied_configs
from flowstone.flow.decorators import StepDecorator
from flowstone.flow.flowspec import FlowSpec
from flowstone.reads import CheckContext
from flowstone.runtime.attempts import AttemptPolicy
from flowstone.runtime.fingerprint import StepFingerprinter
from flowstone.runtime.read_checks import (
    ReadPolicy,
    ReadsChanged,
    how_reads_counted,
    parse_cache_reads,
    why_reads_differ,
)
from flowstone.runtime.scheduler import TaskPlan
from flowstone.runtime.watch_env import env_answer
from flowstone.s3 import reads as _s3_reads  # noqa: F401 - registers the check of S3 reads

__all__ = ["CacheKey", "CacheLookup", "Locator", "TaskCache", "unusable_artifacts"]

KEY_FORMAT = 3  # 2: the configs are part of the inputs; 3: tasks record what they read


class CacheKey(NamedTuple):
    hash: str
    components: dict[str, Any]


class CacheLookup(NamedTuple):
    """The outcome of looking a key up: the task to reuse (pathspec and attempt), or why there is none (and what
    kind of cause it is: 'key', 'stored', or the kind of read that changed; and whether a record is damaged: the
    run says so)."""

    source: str | None
    attempt: int
    reason: str
    cause: str = "key"
    damaged: bool = False


#: Maps an input path ("step/task_id") to where that task's records are: (run id, task id, attempt).
Locator = Callable[[str], tuple[str, str, int]]


def _digest(value: Any) -> str:
    return hash_chunks([dump_json(value)])


class TaskCache:
    """Cache keys, lookups and records for one run of one flow."""

    def __init__(
        self,
        flow_cls: type[FlowSpec],
        fds: FlowDataStore,
        decorators: dict[str, tuple[StepDecorator, ...]],
        enabled: bool = True,
        environments: dict[str, BuiltEnvironment] | None = None,
    ) -> None:
        self.flow_cls = flow_cls
        self.fds = fds
        self.decorators = decorators
        self.enabled = enabled
        self.environments = environments or {}  # steps with their own environment: its packages count
        self.fingerprints = StepFingerprinter(flow_cls)
        self._code: dict[str, dict[str, Any]] = {}
        self._records: dict[str, dict[str, ArtifactRecord]] = {}
        self._item_hashes: dict[str, list[str]] = {}
        self._configs: dict[str, str] | None = None
        self._read_checks: dict[str, tuple[ReadPolicy, CheckContext]] = {}
        parse_cache_reads(fds.settings.cache_reads)  # a mistake in it is said before anything runs

    # -- what may be cached -----------------------------------------------------------------------
    def why_not_cacheable(self, step_name: str) -> str | None:
        """None if the step's results may be reused; otherwise the reason they may not."""
        if not self.enabled:
            return "caching is off for this run (--no-cache)"
        if not self._cache_options(step_name).get("enabled", True):
            return "the step has @cache(enabled=False)"
        if self.fingerprints.step(step_name).reads_run_identity:
            return "the step reads the run's identity (current.run_id, task_id or pathspec)"
        return None

    # -- the key ----------------------------------------------------------------------------------
    def key_for(self, plan: TaskPlan, locate: Locator, parameters: dict[str, Any]) -> CacheKey:
        """The key of the task ``plan``; ``locate`` maps each of its input paths to (run id, attempt)."""
        components = {
            "format": KEY_FORMAT,
            "step": plan.step_name,
            "code": self._code_component(plan.step_name),
            "inputs": {**self._inputs_component(plan, locate, parameters), "configs": self._configs_component()},
            "environment": self._environment_component(plan.step_name),
        }
        if plan.iteration is not None:  # a step on a loop: each round is a task of its own
            components["iteration"] = plan.iteration
        return CacheKey(_digest(components), components)

    def _code_component(self, step_name: str) -> dict[str, Any]:
        if step_name not in self._code:
            fingerprint = self.fingerprints.step(step_name)
            sources = {}
            for name, text in sorted(fingerprint.sources.items()):
                # kept for `why` diffs only: no need to wait for the disk
                sources[name] = self.fds.ca_store.put(text.encode("utf-8"), durable=False).key
            decorators = [{"name": d.name, "attributes": d.attributes} for d in self.decorators[step_name] if d.keyed]
            self._code[step_name] = {
                "sources": sources,
                "constants": dict(sorted(fingerprint.constants.items())),
                "decorators": decorators,
                "extra": self._extra(step_name),
            }
        return self._code[step_name]

    def _cache_options(self, step_name: str) -> dict[str, Any]:
        """What the step's decorators say about caching it (``@cache``): enabled, version, files."""
        options: dict[str, Any] = {}
        for deco in self.decorators[step_name]:
            options.update(deco.cache_options() or {})
        return options

    def _extra(self, step_name: str) -> dict[str, Any]:
        options = self._cache_options(step_name)
        if options.get("version") is None and not options.get("files") and not options.get("env"):
            return {}  # @cache(network=True) and the like say how reads count: the key stays the same
        root = self.fingerprints.project_root
        files = {}
        for relative in options.get("files", []):
            path = os.path.join(root, relative)
            try:
                with open(path, "rb") as f:
                    files[relative] = hash_chunks([f.read()])
            except OSError:
                files[relative] = "missing"
        extra = {"version": options.get("version"), "files": files}
        if options.get("env"):  # variables the step's code cannot be seen reading (a subprocess does)
            environ = self._read_check(step_name)[1].environ
            extra["env"] = {name: env_answer(name, environ.get(name))[1] for name in options["env"]}
        return extra

    def _configs_component(self) -> dict[str, str]:
        """Config name -> hash of its value (of its canonical JSON, so a value read back from the run's record for
        resume hashes the same)."""
        if self._configs is None:
            values = applied_configs(self.flow_cls) or {}
            self._configs = {name: self._config_hash(value) for name, value in sorted(values.items())}
        return self._configs

    def _config_hash(self, value: Any) -> str:
        try:
            return _digest(value)
        except (TypeError, ValueError):  # a plain config holding objects JSON cannot express
            return hash_chunks(self.fds.serializers.serialize(value).chunks)

    def _environment_component(self, step_name: str) -> dict[str, Any]:
        own = self.environments.get(step_name)
        if own is not None:  # everything installed in the step's environment, as resolved
            return {"environment": own.key, "packages": dict(sorted(own.resolved.items()))}
        python = ".".join(str(p) for p in sys.version_info[:3])
        return {"python": python, "packages": dict(sorted(self.fingerprints.step(step_name).packages.items()))}

    def _records_of(self, path: str, locate: Locator) -> dict[str, ArtifactRecord]:
        run_id, task_id, attempt = locate(path)
        step_name = path.split("/")[0]
        cache_key = f"{run_id}/{step_name}/{task_id}/{attempt}"
        if cache_key not in self._records:
            task = self.fds.get_datastore_for_task(run_id, step_name, task_id, attempt=attempt)
            self._records[cache_key] = dict(task.records)
        return self._records[cache_key]

    def _inputs_component(self, plan: TaskPlan, locate: Locator, parameters: dict[str, Any]) -> dict[str, Any]:
        if not plan.input_paths:  # the first step: the parameters and the flow's constants (it stores both)
            values = {**self.flow_cls._get_constants(), **parameters}
            return {"artifacts": {name: self._value_hash(value) for name, value in values.items()}}
        parents = [self._records_of(p, locate) for p in plan.input_paths]
        if len(parents) > 1 or self.flow_cls._get_graph()[plan.step_name].is_join:
            return {"joined": [_digest({n: r.key for n, r in sorted(records.items())}) for records in parents]}
        artifacts = {name: record.key for name, record in sorted(parents[0].items())}
        named = self.fingerprints.step(plan.step_name).self_attributes
        foreach = []
        for frame in plan.foreach_stack:
            var_record = parents[0].get(frame.var)
            entry: dict[str, Any] = {"index": frame.index}
            if frame.is_parallel:  # each task of a @parallel step knows how many there are
                entry["num_nodes"] = frame.num_splits
            if var_record is not None and frame.var not in named:
                artifacts.pop(frame.var, None)  # only this branch's item counts
                entry["item"] = self._item_hash(var_record, frame.index)
            foreach.append(entry)
        return {"artifacts": artifacts, "foreach": foreach}

    def _value_hash(self, value: Any) -> str:
        try:
            return hash_chunks(self.fds.serializers.serialize(value).chunks)
        except Exception as exc:  # the task will fail storing it, and say why; the key just has to differ
            return f"unserializable {type(value).__name__}: {exc}"

    def _item_hash(self, record: ArtifactRecord, index: int) -> str:
        if record.key not in self._item_hashes:
            values = self._load_record(record)
            registry = self.fds.serializers
            count = len(values) if hasattr(values, "__len__") else sum(1 for _ in values)
            self._item_hashes[record.key] = [
                hash_chunks(registry.serialize(item_at(values, i), force_pickle=True).chunks) for i in range(count)
            ]
        return self._item_hashes[record.key][index]

    def _load_record(self, record: ArtifactRecord) -> Any:
        data = record.inline if record.inline is not None else self.fds.ca_store.load_blob(record.key)
        return self.fds.serializers.deserialize(record.serializer, memoryview(data))

    # -- lookups and records ----------------------------------------------------------------------
    def lookup(self, key: CacheKey) -> CacheLookup:
        try:
            entry = self.fds.load_cache_entry(key.hash)
        except IntegrityError as exc:
            return CacheLookup(None, 0, f"the cache entry of this key is damaged ({exc})", "stored", damaged=True)
        if entry is None:
            return CacheLookup(None, 0, "no earlier task has this key")
        try:
            run_id, step_name, task_id, attempt = (entry[k] for k in ("run_id", "step", "task_id", "attempt"))
        except (KeyError, TypeError):
            damage = f"the cache entry of this key is damaged (it holds {entry!r})"
            return CacheLookup(None, 0, damage, "stored", damaged=True)
        return self.check_reusable(run_id, step_name, task_id, int(attempt))

    def check_reusable(self, run_id: str, step_name: str, task_id: str, attempt: int) -> CacheLookup:
        """Whether a finished task can be reused: it is done and every blob it refers to is still stored.

        A task that is gone or not done is a miss; so is one whose records are damaged (the reason names them).
        A storage that cannot be read is an error: a run should not silently redo everything because of it.
        """
        pathspec = f"{self.fds.flow_name}/{run_id}/{step_name}/{task_id}"
        try:
            task = self.fds.get_datastore_for_task(run_id, step_name, task_id, attempt=attempt)
            return self._check_task(task, pathspec, attempt)
        except TaskNotDone:
            return CacheLookup(None, 0, f"the earlier task {pathspec} is gone or not done", "stored")
        except IntegrityError as exc:
            damage = f"the records of the earlier task {pathspec} are damaged ({exc})"
            return CacheLookup(None, 0, damage, "stored", damaged=True)

    def _check_task(self, task: TaskDataStore, pathspec: str, attempt: int) -> CacheLookup:
        unusable = unusable_artifacts(self.fds, task)
        if unusable:
            return CacheLookup(None, 0, f"the earlier task {pathspec} {unusable}", "stored")
        changed = self.why_reads_differ(task.step_name, task.load_metadata(["external_reads"]).get("external_reads"),
                                        pathspec)  # fmt: skip
        if changed:
            return CacheLookup(None, 0, changed.reason, changed.kind)
        return CacheLookup(pathspec, attempt, "")

    def why_reads_differ(self, step_name: str, stored: Any, pathspec: str,
                         resuming: bool = False) -> ReadsChanged | None:  # fmt: skip
        """Whether what task ``pathspec`` read (its ``external_reads``) would still read the same for this step."""
        if not stored:
            return None
        policy, context = self._read_check(step_name, resuming)
        return why_reads_differ(stored, policy, context, pathspec)

    def how_reads_counted(self, step_name: str, stored: Any, resuming: bool = False) -> str:
        """For a task reused for this step: how what it read counted (checked, allowed, not counted), in words."""
        return how_reads_counted(stored, self._read_check(step_name, resuming)[0]) if stored else ""

    def _read_check(self, step_name: str, resuming: bool = False) -> tuple[ReadPolicy, CheckContext]:
        """Which reads count for the step, and the environment it would run in (this one, with what its
        decorators set)."""
        if step_name not in self._read_checks:
            root = self.fingerprints.project_root
            environ = {**os.environ, **AttemptPolicy(self.decorators[step_name]).environment()}
            policy = ReadPolicy.of_step(self._cache_options(step_name), self.fds.settings, root)
            self._read_checks[step_name] = (policy, CheckContext(self.fds.settings, environ, root))
        policy, context = self._read_checks[step_name]
        if resuming:  # a resume continues the origin run: what its tasks fetched or drew at random is part of it
            policy = policy._replace(network_ok=True, random_ok=True)
        return policy, context

    def record(self, key: CacheKey, run_id: str, step_name: str, task_id: str, attempt: int) -> None:
        entry = {"run_id": run_id, "step": step_name, "task_id": task_id, "attempt": attempt}
        self.fds.save_cache_entry(key.hash, entry)


def unusable_artifacts(fds: FlowDataStore, task: TaskDataStore) -> str | None:
    """Why a finished task cannot stand in for a new one because of its stored data (a blob gone, or found
    damaged by a read), or None. Cheap: existence checks (and claims of old blobs), no blob is read."""
    blobs = {name: record.key for name, record in task.records.items() if record.inline is None}
    if not blobs:
        return None
    gone = fds.ca_store.claims.secure_stored(blobs.values())  # and kept until this run's record refers to them
    missing = sorted(name for name, key in blobs.items() if key in gone)
    if missing:
        return f"lost the data of {', '.join(missing)}"
    damaged_keys = fds.ca_store.damaged(blobs.values())
    damaged = sorted(name for name, key in blobs.items() if key in damaged_keys)
    return f"has damaged data for {', '.join(damaged)}" if damaged else None
