#!/usr/bin/env bash
# The one command that runs every test: unit tests, adapter tests against a real Redis and a real
# ClickHouse, and end-to-end tests of the three real binaries.
#
#   infra/test.sh            # everything: cargo test --workspace, the SQL check against current
#                            # ClickHouse (infra/check-current-clickhouse.sh), schemathesis against
#                            # both APIs (infra/schemathesis.sh), the fault-injection suite
#   infra/test.sh faults     # only the fault-injection suite (tests/tests/faults.rs)
#   infra/test.sh -p domain  # other arguments replace `--workspace` in `cargo test`
#
# It installs redis-server and clickhouse-server with apt when missing, starts throwaway servers
# on free loopback ports (data in .test-servers/, removed afterwards), builds the binaries and
# runs `cargo test --workspace`. Servers are stopped whatever the outcome. The OTLP test's Python
# OpenTelemetry client is installed into .test-servers/venv, schemathesis into
# .test-servers/schemathesis-venv, Grafana's LogQL grammar (npm) into .test-servers/logql-grammar
# (all kept between runs); the log explorer's browser test gets Debian's chromium and the pinned
# playwright-core (tests/browser, npm ci).
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=test
cd "$REPO_ROOT"

servers_dir="$REPO_ROOT/.test-servers/run-$$"
cleanup() {
    "$INFRA_DIR/test-servers.sh" clean "$servers_dir" >&2 || true
}
trap cleanup EXIT

env_lines="$("$INFRA_DIR/test-servers.sh" start "$servers_dir")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"

cargo build --workspace --bins
run_fault_suite() {
    # It stops and starts the servers itself, so it runs alone, one scenario at a time.
    cargo test -p e2e-tests --features fault-injection --test faults -- --test-threads=1 --nocapture
}

case "${1:-}" in
"")
    ensure_otlp_python
    ensure_browser_test
    ensure_logql_grammar
    cargo test --workspace
    # Current ClickHouse (chDB, in process) answers every read statement of the adapter like
    # 18.16 does: runs the ignored statement writer of adapters/clickhouse/src/sql.rs.
    "$INFRA_DIR/check-current-clickhouse.sh"
    # Both OpenAPI documents fuzzed against the real services, open and with API keys: no 5xx,
    # every answer as documented.
    "$INFRA_DIR/schemathesis.sh"
    run_fault_suite
    ;;
faults) run_fault_suite ;;
*)
    ensure_otlp_python
    ensure_browser_test
    ensure_logql_grammar
    cargo test "$@"
    ;;
esac
