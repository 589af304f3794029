"""Whether the reads an earlier task made (``flowstone.reads``) would give the same answers now: the part of a
cache lookup (and of a resume) that looks outside the datastore.

The runtime checks the kinds it records itself here: local files (size and modification time, then the content
hash when they differ) and environment variables (against this process's environment with what the step's
decorators set). The S3 client and the Client API register the checks of their kinds. Two kinds cannot be
checked at all: a task that used the network, or drew unseeded random numbers, is not reused unless the step
says that does not matter (``@cache(network=True)``, ``@cache(random=True)``) or the run does (``--cache-reads``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from flowstone import reads
from flowstone.errors import ConfigurationError
from flowstone.runtime.watch_env import env_answer
from flowstone.runtime.watch_files import describe_file
from flowstone.settings import Settings

__all__ = ["ReadPolicy", "ReadsChanged", "describe_read", "how_reads_counted", "parse_cache_reads", "why_reads_differ"]

#: The reads that cannot be checked again: they stop reuse unless allowed.
UNCHECKABLE = ("network", "random")


def parse_cache_reads(value: str | None) -> frozenset[str]:
    """The kinds of reads that decide reuse, from ``--cache-reads`` / ``FLOWSTONE_CACHE_READS``: ``all`` (the
    default), ``none``, or kinds separated by commas (``s3,client,files,env,network,random``)."""
    text = (value or "all").strip().lower()
    if text == "all":
        return frozenset(reads.KINDS)
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip() and k.strip() != "none")
    unknown = sorted(kinds - set(reads.KINDS))
    if unknown:
        raise ConfigurationError(f"--cache-reads / FLOWSTONE_CACHE_READS names unknown kinds of reads: "
                                 f"{', '.join(unknown)}. Use all, none, or some of: {', '.join(reads.KINDS)}."
                                 )  # fmt: skip
    return kinds


class ReadPolicy(NamedTuple):
    """Which reads decide whether a step's earlier task is reused: the run's choice of kinds (``--cache-reads``)
    and the step's ``@cache`` options."""

    kinds: frozenset[str]
    network_ok: bool = False
    random_ok: bool = False
    ignore_env: tuple[str, ...] = ()
    ignore_files: tuple[str, ...] = ()

    @classmethod
    def of_step(cls, options: Mapping[str, Any], settings: Settings, root: str) -> ReadPolicy:
        """The policy of a step with these ``@cache`` options, in a run with these settings."""
        files = (os.path.join(root, os.path.expanduser(p)) for p in options.get("ignore_files") or ())
        ignore_env = (*(options.get("ignore_env") or ()), *filter(None, settings.cache_ignore_env.split(",")))
        return cls(parse_cache_reads(settings.cache_reads),
                   network_ok=bool(options.get("network")) or options.get("version") is not None,
                   random_ok=bool(options.get("random")), ignore_env=tuple(n.strip() for n in ignore_env),
                   ignore_files=tuple(files))  # fmt: skip

    def counted(self, kind: str, answers: list[Any]) -> list[Any]:
        """The reads of ``kind`` that count for this step."""
        if kind not in self.kinds and kind in reads.KINDS:
            return []
        patterns = {"env": self.ignore_env, "files": self.ignore_files}.get(kind)
        if not patterns:
            return answers
        return [a for a in answers if not any(fnmatch.fnmatchcase(str(a[0]), p) for p in patterns)]


class ReadsChanged(NamedTuple):
    """Why an earlier task cannot stand in for a new one because of what it read: the kind, and a sentence."""

    kind: str
    reason: str


def why_reads_differ(stored: Any, policy: ReadPolicy, context: reads.CheckContext,
                     pathspec: str) -> ReadsChanged | None:  # fmt: skip
    """The first read of task ``pathspec`` (its stored ``external_reads``) that would not give the same answer
    now, or that cannot be checked and is not allowed; None if every counted read holds."""
    by_kind = reads.stored_reads(stored)
    for kind in [*reads.KINDS, *sorted(set(by_kind) - set(reads.KINDS))]:
        answers = policy.counted(kind, by_kind.get(kind, []))
        if not answers:
            continue
        if kind in UNCHECKABLE:
            allowed = policy.network_ok if kind == "network" else policy.random_ok
            if not allowed:
                return ReadsChanged(kind, _not_reusable(kind, answers, pathspec))
            continue
        handler = reads.handler_for(kind)
        if handler is None:
            return ReadsChanged(kind, f"the earlier task {pathspec} made reads of a kind this flowstone cannot check "
                                      f"('{kind}')")  # fmt: skip
        changed = handler.check(answers, context)
        if changed:
            return ReadsChanged(kind, f"{changed} since {pathspec} ran")
    return None


def how_reads_counted(stored: Any, policy: ReadPolicy) -> str:
    """For a reused task, how its reads counted, in words: checked (unchanged), allowed, or not counted."""
    by_kind = reads.stored_reads(stored)
    counted = {kind: bool(policy.counted(kind, answers)) for kind, answers in by_kind.items()}
    checked = [kind for kind, yes in counted.items() if yes and kind not in UNCHECKABLE]
    allowed = [_UNCHECKABLE_NAMES[kind] for kind, yes in counted.items() if yes and kind in UNCHECKABLE]
    ignored = [kind for kind, yes in counted.items() if not yes]
    parts = [f"what it read is unchanged ({', '.join(checked)})"] if checked else []
    if allowed:
        parts.append(f"its {' and '.join(allowed)} allowed")
    if ignored:
        parts.append(f"not counted: {', '.join(ignored)} reads")
    return "; ".join(parts)


_UNCHECKABLE_NAMES = {"network": "use of the network", "random": "unseeded random numbers"}


def _not_reusable(kind: str, answers: list[Any], pathspec: str) -> str:
    if kind == "network":
        where = ", ".join(str(a[0]) for a in answers[:3]) + (" ..." if len(answers) > 3 else "")
        return (f"the earlier task {pathspec} used the network ({where}), and flowstone cannot tell whether what it "
                f"fetched changed, so it is not reused; to reuse it anyway, add @cache(network=True) to the step (or "
                f"@cache(version=...), changed when what it fetches changes), or run with --cache-reads without "
                f"network")  # fmt: skip
    return (f"the earlier task {pathspec} {answers[0][1]}, so another run would draw other numbers and it is not "
            f"reused; seed the generator (random.seed(...), numpy.random.seed(...), numpy.random.default_rng(seed)) "
            f"or add @cache(random=True) to the step to reuse it anyway")  # fmt: skip


def describe_read(kind: str, answer: Any) -> str:
    """One read in words, for ``why``."""
    handler = reads.handler_for(kind)
    if handler is not None:
        return handler.describe(answer)
    return f"{kind} read {answer!r}"


# -- the kinds the runtime records ------------------------------------------------------------------------------
def check_files(answers: list[Any], context: reads.CheckContext) -> str | None:
    for path, size, mtime_ns, digest in answers:
        now = describe_file(path) if size is None else _quick(path, size, mtime_ns)
        if now is None:
            continue
        if size is None and now[1] is not None:
            return f"the file {path}, missing when it ran, exists now"
        if size is not None and now[1] is None:
            return f"the file {path} it read is gone"
        if size is not None and (now[1] != size or digest is None or now[3] != digest):
            return f"the file {path} it read changed"
    return None


def _quick(path: str, size: int, mtime_ns: int) -> list[Any] | None:
    """None when the file has the same size and modification time; else how it is now (hashed)."""
    try:
        info = os.stat(path)
    except OSError:
        return [path, None, None, None]
    if info.st_size == size and info.st_mtime_ns == mtime_ns:
        return None
    return describe_file(path)


def describe_file_read(answer: Any) -> str:
    path, size, *_ = answer
    return f"file {path}" + (" (missing)" if size is None else f" ({size} bytes)")


def check_env(answers: list[Any], context: reads.CheckContext) -> str | None:
    for name, digest, shown in answers:
        now = env_answer(name, context.environ.get(name))
        if now[1] == digest:
            continue
        if digest is None:
            return f"the environment variable {name}, not set when it ran, is set now"
        if now[1] is None:
            return f"the environment variable {name} it read is no longer set"
        change = f" ({shown!r} -> {now[2]!r})" if shown is not None and now[2] is not None else ""
        return f"the environment variable {name} it read changed{change}"
    return None


def describe_env_read(answer: Any) -> str:
    name, digest, shown = answer
    if digest is None:
        return f"environment variable {name} (not set)"
    return f"environment variable {name}=" + (repr(shown) if shown is not None else "(hidden)")


reads.register_kind("files", check_files, describe_file_read)
reads.register_kind("env", check_env, describe_env_read)
reads.register_kind("network", lambda answers, context: None, lambda answer: f"network connection to {answer[0]}")
reads.register_kind("random", lambda answers, context: None, lambda answer: f"randomness: {answer[1]}")
