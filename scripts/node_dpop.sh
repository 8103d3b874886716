#!/usr/bin/env bash
# Install panva's `dpop` (the standard RFC 9449 proof library) into .node-dpop/ (ignored by
# git), pinned, for tests/test_dpop_node.py: it drives the DPoP-Nonce retry
# against a live server. Installs only when the stamp file says another version (or nothing).
# Without node/npm: a note and exit 0 (the test skips), but with CI=true exit 1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGE="dpop"
VERSION="2.1.2"  # keep in step with DPOP_VERSION in tests/test_dpop_node.py
DEST="$ROOT/.node-dpop"
STAMP="$DEST/.installed"
CI="${CI:-false}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$CI" = true ]; then
      echo "error: '$tool' is missing and CI=true: install Node.js and npm (apt-get install -y nodejs npm)" \
           "to run the $PACKAGE signalling test" >&2
      exit 1
    fi
    echo "note: '$tool' is missing: the $PACKAGE signalling test will skip (apt-get install -y nodejs npm)"
    exit 0
  fi
done

WANT="$PACKAGE@$VERSION"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && [ -f "$DEST/node_modules/$PACKAGE/package.json" ]; then
  exit 0
fi

echo "==> installing $WANT into .node-dpop (npm)"
rm -rf "$DEST"
mkdir -p "$DEST"
# A package.json of our own, so npm installs here and not into a parent project.
printf '{\n  "name": "byo-sessions-dpop-tests",\n  "private": true\n}\n' > "$DEST/package.json"
npm install --prefix "$DEST" --no-audit --no-fund --save-exact --loglevel=error "$WANT" \
  || { echo "error: npm install $WANT failed" >&2; exit 1; }
INSTALLED="$(node -p "require('$DEST/node_modules/$PACKAGE/package.json').version")"
if [ "$INSTALLED" != "$VERSION" ]; then
  echo "error: npm installed $PACKAGE $INSTALLED, not $VERSION" >&2
  exit 1
fi
echo "$WANT" > "$STAMP"
