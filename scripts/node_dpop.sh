#!/usr/bin/env bash
# panva's `dpop` (the standard RFC 9449 proof library), pinned, into .node-dpop/, for
# tests/test_dpop_node.py: it drives the DPoP-Nonce retry against a live server.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# VERSION: keep in step with DPOP_VERSION in tests/test_dpop_node.py
exec bash "$ROOT/scripts/npm_package.sh" "dpop" "2.1.2" "$ROOT/.node-dpop" "the dpop signalling test"
