"""One task's artifacts, metadata and logs, per numbered attempt.

A task writes through a ``TaskDataStore`` opened in mode 'w' for one attempt; everything it writes is keyed by
that attempt, so a later attempt never touches an earlier one. While it runs, its artifact records and metadata
are kept in ``data.json`` and ``metadata.json``. ``done()`` commits the attempt: it writes the DONE marker, which
holds the final records and metadata themselves, atomically and durably, after the blobs they refer to are
durable. Readers (mode 'r') see only attempts that have it, and read them from it alone, unless they ask for
``allow_not_done``. So a crash at any moment leaves either a complete attempt or an unfinished one, and the
in-progress files need no fsync.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flowstone.datastore import layout
from flowstone.datastore.hashing import hash_chunks
from flowstone.datastore.records import ArtifactRecord, dump_record, load_record
from flowstone.errors import DataException, IntegrityError, TaskNotDone, UnpicklableArtifactException

if TYPE_CHECKING:
    from flowstone.datastore.flow_datastore import FlowDataStore

__all__ = ["TaskDataStore"]

LOG_STREAMS = ("stdout", "stderr")
#: Blobs up to this size are saved in batches (one existence check and one write call per batch) ...
SMALL_BLOB_BYTES = 1 << 20
#: ... of at most about this many bytes, held in memory until the batch is written.
SMALL_BATCH_BYTES = 32 << 20
#: While artifacts are saved, the record of those saved so far is written at least this often.
RECORD_WITHIN_SECONDS = 60.0


class TaskDataStore:
    """Artifacts, metadata and logs of one attempt of one task."""

    def __init__(
        self,
        flow_datastore: FlowDataStore,
        run_id: str,
        step_name: str,
        task_id: str,
        attempt: int | None = None,
        mode: str = "r",
        allow_not_done: bool = False,
    ) -> None:
        if mode not in ("r", "w"):
            raise DataException(f"Unknown task datastore mode '{mode}': use 'r' to read or 'w' to write.")
        self._flow_datastore = flow_datastore
        self._storage = flow_datastore.storage
        self.flow_name = flow_datastore.flow_name
        self.run_id, self.step_name, self.task_id = str(run_id), step_name, str(task_id)
        self.mode = mode
        self._prefix = layout.task_prefix(self.flow_name, self.run_id, step_name, self.task_id)
        self._records: dict[str, ArtifactRecord] | None = None  # read on first use
        self._metadata: dict[str, dict[str, Any]] | None = None
        self._committed: dict[str, Any] | None = None  # the DONE record, for a done attempt opened to read
        self._reads_done = False
        self._unrecorded_since: float | None = None  # when blobs no record refers to yet began to be stored
        if mode == "w":
            self.attempt = 0 if attempt is None else int(attempt)
            self._open_for_write()
        else:
            self.attempt, self._reads_done = self._resolve_attempt(attempt, allow_not_done)

    # -- identity ---------------------------------------------------------------------------------
    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"

    @property
    def TYPE(self) -> str:
        return self._storage.TYPE

    def __repr__(self) -> str:
        return f"TaskDataStore({self.pathspec!r}, attempt={self.attempt}, mode={self.mode!r})"

    def _key(self, kind: str, attempt: int | None = None) -> str:
        return layout.attempt_key(self._prefix, self.attempt if attempt is None else attempt, kind)

    # -- attempts ---------------------------------------------------------------------------------
    def attempts(self) -> dict[int, set[str]]:
        """Every attempt of this task found in storage, with the kinds of file it has."""
        found: dict[int, set[str]] = {}
        for entry in self._storage.list_content(self._prefix):
            parsed = layout.parse_attempt_name(entry.name)
            if parsed and entry.is_file:
                found.setdefault(parsed[0], set()).add(parsed[1])
        return found

    def _resolve_attempt(self, attempt: int | None, allow_not_done: bool) -> tuple[int, bool]:
        """(the attempt to read, whether it is done)."""
        if attempt is not None and not allow_not_done and self._storage.exists(self._key(layout.DONE, attempt)):
            return int(attempt), True  # the common case, settled with one lookup instead of a listing
        attempts = self.attempts()
        if attempt is not None:
            kinds = attempts.get(int(attempt))
            if kinds is None:
                raise TaskNotDone(f"Task {self.pathspec} has no attempt {attempt}.")
            if layout.DONE not in kinds and not allow_not_done:
                raise TaskNotDone(f"Attempt {attempt} of task {self.pathspec} is not done.")
            return int(attempt), layout.DONE in kinds
        done = [a for a, kinds in attempts.items() if layout.DONE in kinds]
        if done:
            return max(done), True
        if allow_not_done:  # the latest attempt; a task folder without any (a task starting) is not started
            return (max(attempts) if attempts else 0), False
        raise TaskNotDone(
            f"Task {self.pathspec} has no completed attempt"
            + (" (it has not started)." if not attempts else " (it is running, or it failed).")
        )

    def _open_for_write(self) -> None:
        if self._storage.exists(self._key(layout.DONE)):
            raise DataException(
                f"Attempt {self.attempt} of task {self.pathspec} is already done and cannot be rewritten; "
                f"write a new attempt instead."
            )

    def init_task(self) -> None:
        """Record that this attempt has started."""
        self._require_writable()
        self._write_json(layout.ATTEMPT, {"attempt": self.attempt, "started_at": time.time()})

    def _require_writable(self) -> None:
        if self.mode != "w":
            raise DataException(f"Task datastore for {self.pathspec} was opened read-only (mode 'r').")
        if self._committed is not None:
            raise DataException(f"Attempt {self.attempt} of task {self.pathspec} is done; it cannot change.")

    def _write_json(self, kind: str, value: Any, durable: bool = False) -> None:
        self._storage.save_one(self._key(kind), dump_record(value), durable=durable)

    def _done_record(self) -> dict[str, Any]:
        """The DONE record of a done attempt opened to read (loaded once)."""
        if self._committed is None:
            record = self._read_json(layout.DONE)
            if not isinstance(record, dict) or not isinstance(record.get("records"), dict):
                raise IntegrityError(
                    f"Record {self._key(layout.DONE)} holds no artifact records: it was damaged or edited. "
                    f"The task counts as not done; run it again (a plain re-run does)."
                )
            self._committed = record
        return self._committed

    def _read_json(self, kind: str, attempt: int | None = None) -> Any:
        data = self._storage.load_one(self._key(kind, attempt))
        return None if data is None else load_record(data, self._key(kind, attempt))

    # -- artifacts --------------------------------------------------------------------------------
    @property
    def records(self) -> dict[str, ArtifactRecord]:
        """Artifact name -> record, for every artifact of this attempt (a second writer adds to the first's)."""
        if self._records is None:
            if self._reads_done:
                raw = self._done_record().get("records", {})
            else:
                raw = (self._read_json(layout.DATA) or {}).get("artifacts", {})
            self._records = {name: ArtifactRecord.from_json(rec) for name, rec in raw.items()}
        return self._records

    def _write_records(self) -> None:
        artifacts = {name: rec.to_json() for name, rec in self.records.items()}
        self._write_json(layout.DATA, {"format": 1, "artifacts": artifacts})
        self._unrecorded_since = None

    def save_artifacts(
        self,
        artifacts: Iterable[tuple[str, Any]],
        force_pickle: bool = False,
        len_hint: int = 0,
        refs: Iterable[tuple[str, ArtifactRecord]] = (),
    ) -> None:
        """Serialize and store each ``(name, value)``, then record them. Large values are stored one at a time,
        streamed; small ones in batches (a few storage round trips for many artifacts).

        Values serialized to at most ``inline_max_bytes`` are kept in the record; others become blobs.
        ``refs`` are records of artifacts passed on unchanged from another task: recorded, never re-serialized.
        """
        self._require_writable()
        records = self.records
        records.update(refs)
        fds = self._flow_datastore
        inline_max = fds.settings.inline_max_bytes
        small: list[tuple[str, Any]] = []  # (name, serialized): saved together, in few storage round trips
        small_bytes = 0
        for name, value in artifacts:
            try:
                serialized = fds.serializers.serialize(value, force_pickle=force_pickle)
            except Exception as exc:
                raise UnpicklableArtifactException(name, exc) from exc
            if serialized.size <= inline_max:
                inline = b"".join(serialized.chunks)
                key = hash_chunks([inline], serialized.size)
                records[name] = ArtifactRecord(key, serialized.size, serialized.type, serialized.serializer, "inline",
                                               inline)  # fmt: skip
            elif serialized.size <= SMALL_BLOB_BYTES:
                small.append((name, serialized))
                small_bytes += serialized.size
                if small_bytes >= SMALL_BATCH_BYTES:
                    self._save_small_blobs(small)
                    small, small_bytes = [], 0
            else:  # streamed, one at a time: peak memory stays near the value's own size
                self._save_large_blob(name, serialized)
            del serialized
        self._save_small_blobs(small)
        self._write_records()

    def _save_small_blobs(self, small: list[tuple[str, Any]]) -> None:
        if not small:
            return
        self._stored_unrecorded()
        blobs = self._flow_datastore.ca_store.put_many([serialized.chunks for _, serialized in small])
        for (name, serialized), blob in zip(small, blobs, strict=True):
            self.records[name] = ArtifactRecord(blob.key, blob.size, serialized.type, serialized.serializer,
                                                blob.encoding)  # fmt: skip

    def _save_large_blob(self, name: str, serialized: Any) -> None:
        self._stored_unrecorded()
        blob = self._flow_datastore.ca_store.put(serialized.chunks)
        self.records[name] = ArtifactRecord(blob.key, blob.size, serialized.type, serialized.serializer,
                                            blob.encoding)  # fmt: skip

    def _stored_unrecorded(self) -> None:
        """Note that blobs are being stored that no record refers to yet. A record refers to them within
        RECORD_WITHIN_SECONDS of the first (a gc running meanwhile counts on it: docs/datastore.md)."""
        now = time.monotonic()
        if self._unrecorded_since is None:
            self._unrecorded_since = now
        elif now - self._unrecorded_since > RECORD_WITHIN_SECONDS:
            self._write_records()
            self._unrecorded_since = now

    def save_artifact_refs(self, refs: Iterable[tuple[str, ArtifactRecord]]) -> None:
        """Record artifacts by reference to records of another task: no value is loaded or serialized."""
        self.save_artifacts((), refs=refs)

    def record(self, name: str) -> ArtifactRecord:
        try:
            return self.records[name]
        except KeyError:
            raise DataException(f"Task {self.pathspec} has no artifact named '{name}'.") from None

    def load_artifacts(self, names: Iterable[str]) -> Iterator[tuple[str, Any]]:
        """Yield ``(name, value)`` for each name; each blob is read and verified once, however many names share it."""
        wanted = [(name, self.record(name)) for name in names]
        registry = self._flow_datastore.serializers
        by_key: dict[str, list[tuple[str, ArtifactRecord]]] = {}
        for name, record in wanted:
            if record.inline is not None:
                yield name, registry.deserialize(record.serializer, self._verified_inline(name, record))
            else:
                by_key.setdefault(record.key, []).append((name, record))
        for key, content in self._flow_datastore.ca_store.load_blobs(list(by_key)):
            for name, record in by_key[key]:
                yield name, registry.deserialize(record.serializer, content)

    def _verified_inline(self, name: str, record: ArtifactRecord) -> memoryview:
        data = memoryview(record.inline or b"")
        if hash_chunks([data], data.nbytes) != record.key:
            raise IntegrityError(
                f"Artifact '{name}' of task {self.pathspec} is corrupted: its stored bytes do not match its "
                f"hash {record.key}. The value was not loaded."
            )
        return data

    def __contains__(self, name: object) -> bool:
        return name in self.records

    def __getitem__(self, name: str) -> Any:
        for _, value in self.load_artifacts([name]):
            return value
        raise KeyError(name)

    # -- metadata ---------------------------------------------------------------------------------
    def _metadata_entries(self) -> dict[str, dict[str, Any]]:
        if self._metadata is None:
            if self._reads_done:
                self._metadata = self._done_record().get("metadata", {})
            else:
                self._metadata = self._read_json(layout.METADATA) or {}
        return self._metadata

    def save_metadata(self, contents: Mapping[str, Any]) -> None:
        """Add or replace metadata entries; values must be JSON-serializable."""
        self._require_writable()
        entries = dict(self._metadata_entries())
        now = time.time()
        for name, value in contents.items():
            entries[name] = {"value": value, "timestamp": now}
        try:
            payload = dump_record(entries)
        except (TypeError, ValueError) as exc:
            raise DataException(f"Metadata for {self.pathspec} must be JSON-serializable: {exc}") from exc
        self._storage.save_one(self._key(layout.METADATA), payload)
        self._metadata = entries

    def load_metadata(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Metadata values by name (all of them when ``names`` is None); absent names are left out."""
        entries = self._metadata_entries()
        wanted = entries if names is None else [n for n in names if n in entries]
        return {name: entries[name]["value"] for name in wanted}

    def metadata_entries(self) -> dict[str, dict[str, Any]]:
        """Metadata with the time each entry was written: name -> {'value', 'timestamp'}."""
        return dict(self._metadata_entries())

    # -- logs -------------------------------------------------------------------------------------
    def save_log(self, stream: str, text: str | bytes, attempt: int | None = None,
                 timestamps: list[float] | None = None, durable: bool = True) -> None:  # fmt: skip
        """Store a log; ``timestamps`` (seconds since the epoch, one per line) are kept beside it if given.
        ``durable=False`` for a log that will be stored again (a running attempt's output so far)."""
        self._require_writable()
        if stream not in LOG_STREAMS:
            raise DataException(f"Unknown log stream '{stream}'; use one of {', '.join(LOG_STREAMS)}.")
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        items = [(self._key(layout.log_kind(stream), attempt), data)]
        if timestamps is not None:
            items.append((self._key(layout.log_times_kind(stream), attempt), dump_record(timestamps)))
        self._storage.save_bytes(items, durable=durable)

    def load_log(self, stream: str, attempt: int | None = None) -> str:
        data = self._storage.load_one(self._key(layout.log_kind(stream), attempt))
        return "" if data is None else bytes(data).decode("utf-8", "replace")

    def load_log_lines(self, stream: str, attempt: int | None = None) -> list[tuple[float | None, str]]:
        """The log's lines with the time each was written (None where no time was recorded)."""
        lines = self.load_log(stream, attempt).splitlines()
        times = self._read_json(layout.log_times_kind(stream), attempt) or []
        if len(times) != len(lines):
            times = [None] * len(lines)
        return list(zip(times, lines, strict=True))

    # -- lifecycle --------------------------------------------------------------------------------
    def done(self) -> None:
        """Commit this attempt: one atomic, durable DONE record with the final artifact records and metadata,
        written once the blobs it refers to are durable."""
        self._require_writable()
        record = {
            "format": 1,
            "finished_at": time.time(),
            "records": {name: rec.to_json() for name, rec in self.records.items()},
            "metadata": self._metadata_entries(),
        }
        self._storage.sync()
        self._write_json(layout.DONE, record, durable=True)
        self._storage.sync()
        self._committed = record

    @property
    def is_done(self) -> bool:
        return self._storage.exists(self._key(layout.DONE))

    def done_info(self) -> dict[str, Any] | None:
        """When the attempt was committed (``finished_at``), or None if it is not done."""
        if self._committed is None and not self._reads_done:
            return None  # opened while not done (a later DONE needs a new TaskDataStore to be seen)
        record = self._committed if self._committed is not None else self._done_record()
        return {"finished_at": record.get("finished_at")} if record else None

    def attempt_info(self, attempt: int | None = None) -> dict[str, Any] | None:
        """The attempt marker's content (``started_at``), or None."""
        result: dict[str, Any] | None = self._read_json(layout.ATTEMPT, attempt)
        return result
