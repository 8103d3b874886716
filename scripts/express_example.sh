#!/usr/bin/env bash
# The pinned npm dependencies of examples/express_app (package.json, and every transitive
# version in package-lock.json), installed with `npm ci` into its node_modules/ (ignored by
# git) for tests/examples/test_express_app.py; a stamp of the lock file makes a change reinstall. Without node/npm: a note and exit 0 (the test skips),
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
WANT="$(cat "$APP/package.json" "$APP/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
echo "==> installing examples/express_app's dependencies (npm)"
npm ci --prefix "$APP" --no-audit --no-fund --loglevel=error \
  || { echo "error: npm ci in examples/express_app failed" >&2; exit 1; }
echo "$WANT" > "$STAMP"
