"""Where each record lives, as storage keys. The only module that knows the datastore's layout.

data/ab/abcdef...                       blobs, shared by every flow of the datastore
data/_damaged/<key>                     a read found the blob damaged (a write of it lifts the mark)
data/_claims/<key>                      a writer is about to refer to the (old) blob: gc keeps it
data/_deleting/<key>                    a gc is deleting the blob (held for seconds)
<Flow>/<run_id>/_run.json               run record (written once, claims the run id)
<Flow>/<run_id>/_tags.json              user tags the run started with
<Flow>/<run_id>/_tags/<n>.json          the n-th change of its user tags (created once, never rewritten)
<Flow>/<run_id>/_tags/<n>.snapshot.json the user tags after change n (every few changes)
<Flow>/<run_id>/_end.json               run outcome, written when the run ends
    <Flow>/_cache/ab/<key>.json               which task holds the results for a cache key
<Flow>/<run_id>/<step>/<task_id>/<attempt>.attempt.json    attempt started
<Flow>/<run_id>/<step>/<task_id>/<attempt>.data.json       artifact records
<Flow>/<run_id>/<step>/<task_id>/<attempt>.metadata.json   task metadata
<Flow>/<run_id>/<step>/<task_id>/<attempt>.<stream>.log    captured stdout / stderr
    <Flow>/<run_id>/<step>/<task_id>/<attempt>.<stream>.times.json   when each log line arrived
<Flow>/<run_id>/<step>/<task_id>/<attempt>.DONE            written last: the attempt completed
"""

from __future__ import annotations

import re

__all__ = [
    "ATTEMPT",
    "BLOB_PREFIX",
    "CLAIMS_DIR",
    "DAMAGED_DIR",
    "DATA",
    "DELETING_DIR",
    "DONE",
    "METADATA",
    "RUN_END",
    "RUN_RECORD",
    "RUN_TAGS",
    "RUN_TAG_CHANGES",
    "attempt_key",
    "blob_key",
    "blob_mark_key",
    "cache_entry_key",
    "cache_prefix",
    "log_kind",
    "log_times_kind",
    "parse_attempt_name",
    "run_object_kind",
    "run_prefix",
    "step_prefix",
    "tag_change_key",
    "tag_change_number",
    "tag_snapshot_key",
    "task_prefix",
]

ATTEMPT = "attempt.json"
DATA = "data.json"
METADATA = "metadata.json"
DONE = "DONE"
RUN_RECORD = "_run.json"
RUN_TAGS = "_tags.json"
RUN_TAG_CHANGES = "_tags"
RUN_END = "_end.json"
CACHE_DIR = "_cache"
BLOB_PREFIX = "data"
DAMAGED_DIR = "_damaged"
CLAIMS_DIR = "_claims"
DELETING_DIR = "_deleting"

_ATTEMPT_NAME = re.compile(r"^(\d+)\.(.+)$")


def blob_key(key: str, prefix: str = BLOB_PREFIX) -> str:
    return f"{prefix}/{key[:2]}/{key}"


def blob_mark_key(kind: str, key: str, prefix: str = BLOB_PREFIX) -> str:
    """The mark of kind ``kind`` (DAMAGED_DIR, CLAIMS_DIR, DELETING_DIR) of blob ``key``."""
    return f"{prefix}/{kind}/{key}"


def run_prefix(flow_name: str, run_id: str) -> str:
    return f"{flow_name}/{run_id}"


def step_prefix(flow_name: str, run_id: str, step_name: str) -> str:
    return f"{flow_name}/{run_id}/{step_name}"


def task_prefix(flow_name: str, run_id: str, step_name: str, task_id: str) -> str:
    return f"{flow_name}/{run_id}/{step_name}/{task_id}"


def cache_entry_key(flow_name: str, key: str) -> str:
    return f"{flow_name}/{CACHE_DIR}/{key[:2]}/{key}.json"


def cache_prefix(flow_name: str) -> str:
    return f"{flow_name}/{CACHE_DIR}"


def tag_change_key(run_key_prefix: str, number: int) -> str:
    return f"{run_key_prefix}/{RUN_TAG_CHANGES}/{number:010d}.json"


def tag_snapshot_key(run_key_prefix: str, number: int) -> str:
    return f"{run_key_prefix}/{RUN_TAG_CHANGES}/{number:010d}.snapshot.json"


def tag_change_number(name: str) -> tuple[int, bool] | None:
    """``'0000000007.json'`` -> ``(7, False)``, ``'0000000007.snapshot.json'`` -> ``(7, True)``; else None."""
    number, _, kind = name.partition(".")
    if not number.isdigit() or kind not in ("json", "snapshot.json"):
        return None
    return int(number), kind == "snapshot.json"


def attempt_key(prefix: str, attempt: int, kind: str) -> str:
    return f"{prefix}/{attempt}.{kind}"


def log_kind(stream: str) -> str:
    return f"{stream}.log"


def log_times_kind(stream: str) -> str:
    return f"{stream}.times.json"


#: What each kind of object under a run is, by how its key (relative to the run) ends: a record (checksummed
#: JSON) of that kind, or 'log' (plain text).
RUN_OBJECT_KINDS = {RUN_RECORD: "run", RUN_END: "end", RUN_TAGS: "tags"}
TASK_OBJECT_KINDS = {DONE: "done", DATA: "data", METADATA: "metadata", ATTEMPT: "attempt"}


def run_object_kind(relative: str) -> str | None:
    """The kind of the object at ``relative`` (its key under a run's prefix): 'run', 'end', 'tags', 'tag' (a
    change or snapshot of the tags), 'done', 'data', 'metadata', 'attempt', 'times' (log line times), 'log';
    None for a key that is no part of the layout."""
    parts = relative.split("/")
    if len(parts) == 1:
        return RUN_OBJECT_KINDS.get(parts[0])
    if len(parts) == 2:
        return "tag" if parts[0] == RUN_TAG_CHANGES and tag_change_number(parts[1]) else None
    parsed = parse_attempt_name(parts[-1]) if len(parts) == 3 else None
    if parsed is None:
        return None
    kind = parsed[1]
    if kind.endswith(".times.json"):
        return "times"
    return "log" if kind.endswith(".log") else TASK_OBJECT_KINDS.get(kind)


def parse_attempt_name(name: str) -> tuple[int, str] | None:
    """``'2.DONE'`` -> ``(2, 'DONE')``; None for names that are not per-attempt files."""
    match = _ATTEMPT_NAME.match(name)
    return (int(match.group(1)), match.group(2)) if match else None
