#!/usr/bin/env bash
# Checks that the query SQL of the ClickHouse adapter runs alike on ClickHouse 18.16 and on
# current ClickHouse: writes every statement shape the adapter builds (an ignored test of
# adapters/clickhouse/src/sql.rs), runs each on a throwaway 18.16 server and on current
# ClickHouse in process (chDB, the `chdb-core-lite` package from PyPI, about 500 MB, installed
# once into target/chdb-venv), both holding the same rows, and compares the answers.
#
#   infra/check-current-clickhouse.sh
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=check-current-clickhouse
cd "$REPO_ROOT"

# Pinned: the check compares against this ClickHouse (26.5); raise it to check a newer one.
CHDB_PACKAGE="chdb-core-lite==26.5.0"
venv="$REPO_ROOT/target/chdb-venv"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$venv/package" 2>/dev/null)" != "$CHDB_PACKAGE" ]] ||
    ! "$venv/bin/python" -c "import chdb" 2>/dev/null; then
    log "installing $CHDB_PACKAGE into $venv"
    ensure_python_venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$CHDB_PACKAGE" >&2
    printf '%s\n' "$CHDB_PACKAGE" >"$venv/package"
fi

work_dir="$(mktemp -d /tmp/check-current-clickhouse.XXXXXX)"
cleanup() {
    "$INFRA_DIR/test-servers.sh" clean "$work_dir/servers" >&2 || true
    rm -rf "$work_dir"
}
trap cleanup EXIT
env_lines="$("$INFRA_DIR/test-servers.sh" start "$work_dir/servers")"
eval "$env_lines"

STATEMENTS_OUT="$work_dir/statements.tsv" cargo test -q -p clickhouse-adapter --lib -- \
    --ignored statements_for_other_versions >&2
"$venv/bin/python" "$INFRA_DIR/check-current-clickhouse.py" "$TEST_CLICKHOUSE_URL" \
    "$work_dir/statements.tsv" migrations/001_create_logs.sql
