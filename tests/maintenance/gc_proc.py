"""gc run as a separate process by the crash tests.

gc_proc.py DATASTORE ROOT [--die-at N]   collect garbage (keep the newest run, no grace period) in the datastore
                                         at ROOT; with --die-at, SIGKILL self at the N-th change: on local disk,
                                         each call that changes the file system; elsewhere, each storage call
                                         that writes or deletes. Prints how many such changes it made.
"""

from __future__ import annotations

import os
import signal
import sys

from flowstone.datastore.maintenance import collect_garbage
from flowstone.settings import Settings
from flowstone.storage import Storage, make_storage

CHANGES = ("unlink", "rmdir", "link", "replace", "rename")


class _Killer:
    def __init__(self, die_at: int) -> None:
        self.calls = 0
        self.die_at = die_at

    def watch_file_system(self) -> None:
        for name in CHANGES:
            setattr(os, name, self._wrap(getattr(os, name)))
        original_open = os.open

        def counted_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
            if flags & (os.O_WRONLY | os.O_RDWR):
                self._tick()
            return original_open(path, flags, *args, **kwargs)

        os.open = counted_open

    def _tick(self) -> None:
        self.calls += 1
        if self.calls == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def _wrap(self, original):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            self._tick()
            return original(*args, **kwargs)

        return wrapped

    def watch_storage(self, storage: Storage) -> None:
        for name in ("save_bytes", "delete", "delete_tree"):
            setattr(storage, name, self._wrap(getattr(storage, name)))


def main(argv: list[str]) -> None:
    die_at = int(argv[argv.index("--die-at") + 1]) if "--die-at" in argv else 0
    datastore, root = argv[0], argv[1]
    storage = make_storage(datastore, Settings.from_env(default_datastore=datastore), root)
    killer = _Killer(die_at)
    killer.watch_file_system() if datastore == "local" else killer.watch_storage(storage)
    collect_garbage(storage, keep_last=1, grace=0)
    print(killer.calls)


if __name__ == "__main__":
    main(sys.argv[1:])
