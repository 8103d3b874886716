# Sourced by scripts/demo.sh and scripts/test.sh: make (or reuse) .venv with Python >= 3.12
# (3.12 first: the oldest we support is the one we test) and the project installed with the
# extras in BYO_EXTRAS (test.sh: "test,typecheck"; demo.sh: none, the base dependencies).
# A venv that has more than asked for is reused as it is. Nothing is installed outside .venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

python_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local candidate
  for candidate in python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$(command -v "$candidate")"; then
      command -v "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null; then
    for series in 3.12 3.13; do
      local version
      version="$(pyenv latest "$series" 2>/dev/null || true)"
      if [ -n "$version" ]; then
        candidate="$(PYENV_VERSION="$version" pyenv which python3 2>/dev/null || true)"
        if [ -n "$candidate" ] && python_ok "$candidate"; then echo "$candidate"; return 0; fi
      fi
    done
  fi
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! python_ok "$VENV/bin/python"; then
  PYTHON="$(find_python)" || { echo "error: Python >= 3.12 is needed (Django 6); none found on PATH or in pyenv." >&2; exit 1; }
  echo "==> creating .venv with $PYTHON"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi

BYO_EXTRAS="${BYO_EXTRAS:-}"
# One stamp per set of extras; the full set (test.sh's) also satisfies the demo.
STAMP="$VENV/.byo-installed${BYO_EXTRAS:+-$BYO_EXTRAS}"
FULL_STAMP="$VENV/.byo-installed-test,typecheck"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
installed() { [ -f "$1" ] && [ "$(cat "$1")" = "$WANT" ]; }
if ! installed "$STAMP" && ! installed "$FULL_STAMP"; then
  if [ -n "$BYO_EXTRAS" ]; then
    echo "==> installing byo-sessions with [$BYO_EXTRAS] into .venv"
    TARGET="$ROOT[$BYO_EXTRAS]"
  else
    echo "==> installing byo-sessions and its dependencies into .venv"
    TARGET="$ROOT"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$TARGET" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  CHECK="import django, rest_framework, jwt"
  case ",$BYO_EXTRAS," in *,test,*) CHECK="$CHECK, psycopg, playwright, mkdocs, build";; esac
  "$VENV/bin/python" -c "$CHECK" || { echo "error: installing the dependencies failed" >&2; exit 1; }
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
