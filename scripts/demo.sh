#!/usr/bin/env bash
# Set up .venv and run the example flow on the local datastore, then look at the run it made.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export FLOWSTONE_DATASTORE_SYSROOT_LOCAL="${FLOWSTONE_DATASTORE_SYSROOT_LOCAL:-$PWD/.flowstone}"
# runs are attributed to a user; a bare container has none but root, which does not count
if [ -z "${FLOWSTONE_USER:-}${METAFLOW_USER:-}${SUDO_USER:-}${USERNAME:-}" ] && [ "${USER:-root}" = root ]; then
    export FLOWSTONE_USER=demo
fi
.venv/bin/python examples/hello_flow.py run
.venv/bin/flowstone runs HelloFlow --limit 3
.venv/bin/python -c "
from flowstone import Flow
run = Flow('HelloFlow').latest_run
print(f'{run.pathspec}: successful={run.successful}, messages={run.data.messages}')
"
