#!/usr/bin/env bash
# Set up and start the demo site on SQLite: creates .venv with the package's own dependencies
# only (no test or type-check tools), migrates, makes a demo user and an admin, prints the
# URL and the credentials, then serves on 127.0.0.1:${PORT:-8000}. Apart from runserver's
# output: audit lines go to example_project/demo.log, the e-mails it sends to demo-mail/.
set -euo pipefail
BYO_EXTRAS=""
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
PORT="${PORT:-8000}"
python manage.py migrate --noinput >/dev/null
echo
python manage.py demo_setup
echo "Open:       http://127.0.0.1:$PORT/   (admin: http://127.0.0.1:$PORT/admin/)"
echo "Audit log:  tail -f example_project/demo.log   (one line per audit event)"
echo "E-mails:    example_project/demo-mail/          (the new-device notices the demo sends)"
echo
exec python manage.py runserver "127.0.0.1:$PORT"
