#!/usr/bin/env bash
# Set up and start the demo site on SQLite: creates .venv, migrates, makes a demo user
# and an admin, prints the URL and the credentials, then serves on 127.0.0.1:${PORT:-8000}.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
PORT="${PORT:-8000}"
python manage.py migrate --noinput >/dev/null
echo
python manage.py demo_setup
echo "Open:       http://127.0.0.1:$PORT/   (admin: http://127.0.0.1:$PORT/admin/)"
echo
exec python manage.py runserver "127.0.0.1:$PORT"
