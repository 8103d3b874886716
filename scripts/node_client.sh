#!/usr/bin/env bash
# Install the published Node client the session server is tested against
# (tests/server/test_node_client.py) into .node-client/ (ignored by git), pinned, and only
# when the stamp file says another version (or nothing) is there.
# Without node/npm: a note and exit 0 (the Node client tests skip), but with CI=true exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGE="@propelauth/byo-node"
VERSION="1.0.4"  # keep in step with NODE_CLIENT_VERSION in tests/server/test_node_client.py
DEST="$ROOT/.node-client"
STAMP="$DEST/.byo-installed"
CI="${CI:-false}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$CI" = true ]; then
      echo "error: '$tool' is missing and CI=true: install Node.js and npm (apt-get install -y nodejs npm)" \
           "to run the $PACKAGE compatibility tests" >&2
      exit 1
    fi
    echo "note: '$tool' is missing: the $PACKAGE compatibility tests will skip (apt-get install -y nodejs npm)"
    exit 0
  fi
done

WANT="$PACKAGE@$VERSION"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && [ -f "$DEST/node_modules/$PACKAGE/package.json" ]; then
  exit 0
fi

echo "==> installing $WANT into .node-client (npm)"
rm -rf "$DEST"
mkdir -p "$DEST"
# A package.json of our own, so npm installs here and not into a parent project.
printf '{\n  "name": "byo-sessions-node-client-tests",\n  "private": true\n}\n' > "$DEST/package.json"
npm install --prefix "$DEST" --no-audit --no-fund --save-exact --loglevel=error "$WANT" \
  || { echo "error: npm install $WANT failed" >&2; exit 1; }
INSTALLED="$(node -p "require('$DEST/node_modules/$PACKAGE/package.json').version")"
if [ "$INSTALLED" != "$VERSION" ]; then
  echo "error: npm installed $PACKAGE $INSTALLED, not $VERSION" >&2
  exit 1
fi
echo "$WANT" > "$STAMP"
