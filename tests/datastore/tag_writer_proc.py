"""A process that changes one run's tags, for the concurrency tests of the tag log.

tag_writer_proc.py DS_TYPE ROOT WRITER COUNT   wait for 'go' on stdin, then for i in range(COUNT): add the tag
                                              '<WRITER>-<i>' and the shared tag 'shared', then remove 'shared';
                                              check each change's result; print 'ok'
"""

from __future__ import annotations

import sys

from flowstone.datastore import FlowDataStore
from flowstone.settings import Settings
from flowstone.storage import make_storage

FLOW, RUN = "TagFlow", "1"


def main() -> None:
    ds_type, root, writer, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    fds = FlowDataStore(FLOW, storage=make_storage(ds_type, Settings.from_env(), root))
    sys.stdin.readline()
    for i in range(count):
        own = f"{writer}-{i}"
        added = fds.change_run_tags(RUN, remove=[], add=[own, "shared"])
        assert own in added and "shared" in added, added  # the change's own result holds what it added
        removed = fds.change_run_tags(RUN, remove=["shared"], add=[])
        assert "shared" not in removed and own in removed, removed
    print("ok", flush=True)


if __name__ == "__main__":
    main()
