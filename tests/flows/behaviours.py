"""Misbehaviour on demand, for the runtime tests: a step calls ``misbehave(self)`` first, and the environment
variable FS_TEST_<KIND>_AT (a step name) decides whether that step fails, crashes, hangs or is flaky."""

import ctypes
import os
import sys
import time

from flowstone import current


def _here(kind):
    return os.environ.get(f"FS_TEST_{kind}_AT") == current.step_name


def misbehave(flow):
    where = f"{current.step_name}/{current.task_id}"
    print(f"stdout of {where} attempt {current.retry_count}")
    print(f"stderr of {where} attempt {current.retry_count}", file=sys.stderr)
    index = getattr(flow, "index", None)
    wanted_index = os.environ.get("FS_TEST_INDEX")
    if wanted_index is not None and index is not None and str(index) != wanted_index:
        return
    if _here("FAIL"):
        raise ValueError(f"planned failure in {current.step_name}")
    if _here("FLAKY") and current.retry_count == 0:
        raise RuntimeError(f"flaky failure in {current.step_name}")
    if _here("EXIT"):
        sys.stdout.flush()
        os._exit(3)
    if _here("SEGV"):
        sys.stdout.flush()
        ctypes.string_at(0)
    if _here("HANG"):
        time.sleep(60)
