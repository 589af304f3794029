#!/usr/bin/env bash
# Refresh the chart library that cards carry (src/flowstone/cards/static/vega*.min.js) from the npm registry, at
# the versions pinned by scripts/chart-js/package-lock.json. The copies are committed: installing flowstone, and
# viewing a card, needs no network. Change the pins in scripts/chart-js/package.json, then run this.
set -euo pipefail
cd "$(dirname "$0")/chart-js"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/" 2>/dev/null || cp package.json "$work/"
(cd "$work" && { [ -f package-lock.json ] && npm ci --no-audit --no-fund --loglevel=error \
                 || npm install --no-audit --no-fund --loglevel=error; } >/dev/null)
[ -f package-lock.json ] || cp "$work/package-lock.json" .
static=../../src/flowstone/cards/static
for package in vega vega-lite vega-embed; do
  cp "$work/node_modules/$package/build/$package.min.js" "$static/$package.min.js"
  cp "$work/node_modules/$package/LICENSE" "$static/LICENSE.$package"
done
echo "vendored: $(cd "$work" && node -e 'for (const p of ["vega","vega-lite","vega-embed"]) console.log(p, require(`./node_modules/${p}/package.json`).version)' | tr '\n' ' ')"
