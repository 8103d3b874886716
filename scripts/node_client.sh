#!/usr/bin/env bash
# The published Node client the session server is tested against (tests/server/test_node_client.py),
# pinned, into .node-client/.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# VERSION: keep in step with NODE_CLIENT_VERSION in tests/server/test_node_client.py
exec bash "$ROOT/scripts/npm_package.sh" "@propelauth/byo-node" "1.0.4" "$ROOT/.node-client" \
  "the @propelauth/byo-node compatibility tests"
