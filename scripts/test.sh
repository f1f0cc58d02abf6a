#!/usr/bin/env bash
# The test suite on SQLite + local disk, then every store-touching test again on
# PostgreSQL + S3-compatible storage (moto).
# Services are started here (scripts/services.sh); under CI=true a missing one is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
eval "$(scripts/services.sh start)"
echo "== pytest on SQLite + local disk"
VIDEOGATE_TEST_DB=sqlite "$BIN/pytest" -q
if [ -n "${VIDEOGATE_TEST_PG_URL:-}" ] || [ "${CI:-}" = "true" ]; then
  echo "== pytest on PostgreSQL + Redis + S3 (tests marked db)"
  VIDEOGATE_TEST_DB=postgres "$BIN/pytest" -q -m db
else
  echo "!! PostgreSQL is not available here: the PostgreSQL run was NOT done (CI runs it)."
fi
