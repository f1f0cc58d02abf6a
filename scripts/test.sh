#!/usr/bin/env bash
# The test suite on SQLite, then every test that touches the store again on PostgreSQL.
# Services are started here (scripts/services.sh); under CI=true a missing one is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
if [ -z "${VIDEOGATE_TEST_PG_URL:-}" ]; then
  eval "$(scripts/services.sh start)"
fi
echo "== pytest on SQLite"
VIDEOGATE_TEST_DB=sqlite "$BIN/pytest" -q
if [ -n "${VIDEOGATE_TEST_PG_URL:-}" ] || [ "${CI:-}" = "true" ]; then
  echo "== pytest on PostgreSQL (tests marked db)"
  VIDEOGATE_TEST_DB=postgres "$BIN/pytest" -q -m db
else
  echo "!! PostgreSQL is not available here: the PostgreSQL run was NOT done (CI runs it)."
fi
