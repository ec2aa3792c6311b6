#!/usr/bin/env bash
# The one command that runs every test: unit tests, adapter tests against a real Redis and a real
# ClickHouse, and end-to-end tests of the three real binaries.
#
#   infra/test.sh            # everything: cargo test --workspace, then the fault-injection suite
#   infra/test.sh faults     # only the fault-injection suite (tests/tests/faults.rs)
#   infra/test.sh -p domain  # other arguments replace `--workspace` in `cargo test`
#
# It installs redis-server and clickhouse-server with apt when missing, starts throwaway servers
# on free loopback ports (data in .test-servers/, removed afterwards), builds the binaries and
# runs `cargo test --workspace`. Servers are stopped whatever the outcome. The OTLP test's Python
# OpenTelemetry client is installed into .test-servers/venv (kept between runs).
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

# tests/tests/otlp.rs sends logs with the official OpenTelemetry Python SDK: a virtualenv with the
# pinned tests/otlp/requirements.txt, kept in .test-servers/venv (git-ignored) and rebuilt when
# that file changes. The test reads the interpreter from OTLP_TEST_PYTHON.
setup_otlp_python() {
    local venv="$REPO_ROOT/.test-servers/venv"
    local requirements="$REPO_ROOT/tests/otlp/requirements.txt"
    ensure_python_venv
    if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
        log "installing the OpenTelemetry Python SDK into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$venv/requirements.txt"
    fi
    export OTLP_TEST_PYTHON="$venv/bin/python"
}

cargo build --workspace --bins
run_fault_suite() {
    # It stops and starts the servers itself, so it runs alone, one scenario at a time.
    cargo test -p e2e-tests --features fault-injection --test faults -- --test-threads=1 --nocapture
}

case "${1:-}" in
"")
    setup_otlp_python
    cargo test --workspace
    run_fault_suite
    ;;
faults) run_fault_suite ;;
*)
    setup_otlp_python
    cargo test "$@"
    ;;
esac
