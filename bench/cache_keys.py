"""Time cache-key computation per task, in process, for the tasks of an existing run; prints a JSON line.

python cache_keys.py FLOW_FILE DATASTORE_ROOT
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

from flowstone.datastore import FlowDataStore
from flowstone.flow.artifacts import ForeachFrame
from flowstone.runtime.cache import TaskCache
from flowstone.runtime.scheduler import TaskPlan
from flowstone.runtime.step_config import step_decorators
from flowstone.settings import Settings


def main() -> None:
    flow_file, root = Path(sys.argv[1]), sys.argv[2]
    spec = importlib.util.spec_from_file_location(flow_file.stem, flow_file)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[flow_file.stem] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    flow_cls = next(v for v in vars(module).values() if isinstance(v, type) and hasattr(v, "_get_graph")
                    and v.__module__ == module.__name__)  # fmt: skip
    fds = FlowDataStore(flow_cls.__name__, settings=Settings(datastore_sysroot_local=root))
    run_id = max(fds.list_run_ids(), key=int)
    tasks = fds.get_task_datastores(run_id=run_id)
    plans = []
    for task in tasks:
        meta = task.load_metadata(["input_paths", "foreach_stack"])
        inputs = tuple(p.split("/", 1)[1] for p in meta["input_paths"])
        stack = tuple(ForeachFrame.from_json(f) for f in meta["foreach_stack"])
        plans.append(TaskPlan(task.step_name, inputs, stack))
    attempts = {f"{t.step_name}/{t.task_id}": t.attempt for t in tasks}
    params = {}
    start = next(t for t in tasks if t.step_name == "start")
    names = [attr for attr, _ in flow_cls._get_parameters()]
    if names:
        params = dict(start.load_artifacts(names))
    cache = TaskCache(flow_cls, fds, step_decorators(flow_cls._get_graph()))
    began = time.perf_counter()
    for plan in plans:
        cache.key_for(plan, lambda path: (run_id, path.split("/")[1], attempts[path]), params)
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "tasks": len(plans), "per_task": seconds / len(plans)}))


if __name__ == "__main__":
    main()
