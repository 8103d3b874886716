#!/usr/bin/env bash
# Install one pinned npm package into a folder of its own (ignored by git), only when the
# stamp file says another version (or nothing) is there:
#   bash scripts/npm_package.sh PACKAGE VERSION DEST_DIR "what it is for"
# Without node/npm: a note and exit 0 (the tests that need it skip), but with CI=true exit 1.
set -euo pipefail
PACKAGE="$1"; VERSION="$2"; DEST="$3"; PURPOSE="$4"
STAMP="$DEST/.byo-installed"
CI="${CI:-false}"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$CI" = true ]; then
      echo "error: '$tool' is missing and CI=true: install Node.js and npm (apt-get install -y nodejs npm)" \
           "to run $PURPOSE" >&2
      exit 1
    fi
    echo "note: '$tool' is missing: $PURPOSE will skip (apt-get install -y nodejs npm)"
    exit 0
  fi
done

WANT="$PACKAGE@$VERSION"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && [ -f "$DEST/node_modules/$PACKAGE/package.json" ]; then
  exit 0
fi

echo "==> installing $WANT into $(basename "$DEST") (npm)"
rm -rf "$DEST"
mkdir -p "$DEST"
# A package.json of our own, so npm installs here and not into a parent project.
printf '{\n  "name": "byo-sessions-%s",\n  "private": true\n}\n' "$(basename "$DEST" | tr -d .)" > "$DEST/package.json"
npm install --prefix "$DEST" --no-audit --no-fund --save-exact --loglevel=error "$WANT" \
  || { echo "error: npm install $WANT failed" >&2; exit 1; }
INSTALLED="$(node -p "require('$DEST/node_modules/$PACKAGE/package.json').version")"
if [ "$INSTALLED" != "$VERSION" ]; then
  echo "error: npm installed $PACKAGE $INSTALLED, not $VERSION" >&2
  exit 1
fi
echo "$WANT" > "$STAMP"
