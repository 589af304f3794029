#!/usr/bin/env bash
# Refresh the UI's vendored front-end library from the npm registry, pinned by scripts/ui-vendor/package-lock.json:
# Preact with htm as one ES module (htm's "preact/standalone" build), so the UI needs no build step.
set -euo pipefail
cd "$(dirname "$0")/ui-vendor"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
target=../../src/flowstone/ui/static/vendor
cp node_modules/htm/preact/standalone.module.js "$target/preact-htm.js"
cp node_modules/htm/LICENSE "$target/LICENSE.htm"
rm -rf node_modules
echo "vendored htm $(node -p 'require("./package-lock.json").packages["node_modules/htm"].version') into $target"
