#!/usr/bin/env bash
# The pinned npm dependencies of examples/express_app (its package.json), installed into its
# node_modules/ (ignored by git) for tests/examples/test_express_app.py; a stamp of the
# package.json makes a change reinstall. Without node/npm: a note and exit 0 (the test skips),
# but with CI=true exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$ROOT/examples/express_app"
STAMP="$APP/node_modules/.byo-installed"
CI="${CI:-false}"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$CI" = true ]; then
      echo "error: '$tool' is missing and CI=true: install Node.js and npm (apt-get install -y nodejs npm)" >&2
      exit 1
    fi
    echo "note: '$tool' is missing: the Express example's test will skip (apt-get install -y nodejs npm)"
    exit 0
  fi
done
WANT="$(sha256sum "$APP/package.json" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
echo "==> installing examples/express_app's dependencies (npm)"
rm -rf "$APP/node_modules"
npm install --prefix "$APP" --no-audit --no-fund --no-package-lock --loglevel=error \
  || { echo "error: npm install in examples/express_app failed" >&2; exit 1; }
echo "$WANT" > "$STAMP"
