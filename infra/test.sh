#!/usr/bin/env bash
# The one command that runs every test: unit tests, adapter tests against a real Redis and a real
# ClickHouse, and end-to-end tests of the three real binaries.
#
#   infra/test.sh            # everything: cargo test --workspace, the SQL check against current
#                            # ClickHouse (infra/check-current-clickhouse.sh), schemathesis against
#                            # both APIs (infra/schemathesis.sh), the fault-injection suite
#   infra/test.sh faults     # only the fault-injection suite (tests/tests/faults.rs, every
#                            # scenario with one and with two processes of each service,
#                            # then tests/tests/redis_stall.rs)
#   infra/test.sh cluster    # only the ClickHouse cluster test (tests/tests/cluster.rs) on
#                            # ZooKeeper + 4 ClickHouse nodes of infra/test-cluster.sh
#   infra/test.sh sentinel   # only the Redis Sentinel fault test (tests/tests/sentinel.rs) on
#                            # the primary, replica and 3 sentinels of infra/test-sentinel.sh
#   infra/test.sh redis-cluster  # only the Redis Cluster test (tests/tests/redis_cluster.rs) on
#                            # the 3 primaries of infra/test-redis-cluster.sh
#   infra/test.sh -p domain  # other arguments replace `--workspace` in `cargo test`
#
# It installs redis-server and clickhouse-server with apt when missing, starts throwaway servers
# on free loopback ports (data in .test-servers/, removed afterwards), builds the binaries and
# runs `cargo test --workspace`. Servers are stopped whatever the outcome. The OTLP test's Python
# OpenTelemetry client is installed into .test-servers/venv, the Elasticsearch test's Python client
# into .test-servers/es-venv, schemathesis into .test-servers/schemathesis-venv, Grafana's LogQL
# grammar (npm) into .test-servers/logql-grammar (all kept between runs); the log explorer's
# browser test gets Debian's chromium and the pinned playwright-core (tests/browser, npm ci);
# rsyslog, rsyslog-elasticsearch and logger come with apt when missing; the Loki clients (npm
# winston-loki, PyPI python-logging-loki) are pinned in tests/loki.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=test
cd "$REPO_ROOT"

servers_dir="$REPO_ROOT/.test-servers/run-$$"
cluster_dir="$REPO_ROOT/.test-servers/cluster-$$"
sentinel_dir="$REPO_ROOT/.test-servers/sentinel-$$"
redis_cluster_dir="$REPO_ROOT/.test-servers/redis-cluster-$$"
cleanup() {
    "$INFRA_DIR/test-servers.sh" clean "$servers_dir" >&2 || true
    if [[ -d "$cluster_dir" ]]; then
        "$INFRA_DIR/test-cluster.sh" clean "$cluster_dir" >&2 || true
    fi
    if [[ -d "$sentinel_dir" ]]; then
        "$INFRA_DIR/test-sentinel.sh" clean "$sentinel_dir" >&2 || true
    fi
    if [[ -d "$redis_cluster_dir" ]]; then
        "$INFRA_DIR/test-redis-cluster.sh" clean "$redis_cluster_dir" >&2 || true
    fi
}
trap cleanup EXIT

env_lines="$("$INFRA_DIR/test-servers.sh" start "$servers_dir")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"
# The services' logs of every end-to-end stack, kept for a look after a failure (a failing
# fault scenario prints the tail of its worker's log).
export E2E_LOG_DIR="${E2E_LOG_DIR:-$REPO_ROOT/target/e2e-logs}"
rm -rf "$E2E_LOG_DIR"

cargo build --workspace --bins
run_fault_suite() {
    # It stops and starts the servers itself, so it runs alone, one scenario at a time; each
    # scenario once with one process of each service, once with two behind nginx. Then the
    # stalled-Redis test, which freezes the same servers.
    ensure_nginx
    cargo test -p e2e-tests --features fault-injection --test faults --test redis_stall \
        -- --test-threads=1 --nocapture
}

run_cluster_test() {
    # ZooKeeper and four ClickHouse nodes (2 shards x 2 replicas); the services' Redis stays the
    # test Redis. It stops and starts cluster nodes itself, so it runs alone.
    local cluster_env
    cluster_env="$("$INFRA_DIR/test-cluster.sh" start "$cluster_dir")"
    eval "$cluster_env"
    TEST_CLICKHOUSE_URL="${TEST_CLUSTER_URLS%%,*}" \
        cargo test -p e2e-tests --features cluster --test cluster -- --nocapture
    "$INFRA_DIR/test-cluster.sh" clean "$cluster_dir" >&2
}

run_sentinel_test() {
    # A primary, a replica and three sentinels (redis-sentinel from apt when missing); the
    # ClickHouse stays the test one. It kills and restarts Redis nodes itself, so it runs alone.
    local sentinel_env
    sentinel_env="$("$INFRA_DIR/test-sentinel.sh" start "$sentinel_dir")"
    eval "$sentinel_env"
    cargo test -p e2e-tests --features sentinel --test sentinel -- --nocapture
    "$INFRA_DIR/test-sentinel.sh" clean "$sentinel_dir" >&2
}

run_redis_cluster_test() {
    # Three Redis Cluster primaries; the ClickHouse stays the test one.
    local cluster_env
    cluster_env="$("$INFRA_DIR/test-redis-cluster.sh" start "$redis_cluster_dir")"
    eval "$cluster_env"
    cargo test -p e2e-tests --features redis-cluster --test redis_cluster -- --nocapture
    "$INFRA_DIR/test-redis-cluster.sh" clean "$redis_cluster_dir" >&2
}

case "${1:-}" in
"")
    ensure_otlp_python
    ensure_browser_test
    ensure_elasticsearch_python
    ensure_syslog_clients
    ensure_loki_clients
    ensure_logql_grammar
    cargo test --workspace
    # Current ClickHouse (chDB, in process) answers every read statement of the adapter like
    # 18.16 does: runs the ignored statement writer of adapters/clickhouse/src/sql.rs.
    "$INFRA_DIR/check-current-clickhouse.sh"
    # Both OpenAPI documents fuzzed against the real services, open and with API keys: no 5xx,
    # every answer as documented.
    "$INFRA_DIR/schemathesis.sh"
    run_fault_suite
    run_cluster_test
    run_sentinel_test
    run_redis_cluster_test
    ;;
faults) run_fault_suite ;;
cluster) run_cluster_test ;;
sentinel) run_sentinel_test ;;
redis-cluster) run_redis_cluster_test ;;
*)
    ensure_otlp_python
    ensure_browser_test
    ensure_elasticsearch_python
    ensure_syslog_clients
    ensure_loki_clients
    ensure_logql_grammar
    cargo test "$@"
    ;;
esac
