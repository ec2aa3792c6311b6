#!/usr/bin/env bash
# Throughput of the Elasticsearch bulk API and of syslog over one TCP connection, next to
# POST /ingest in the same run (the "Elasticsearch bulk and syslog" section of docs/BENCHMARKS.md).
#
#   infra/bench-protocols.sh            # prints the report (markdown); raw JSON in target/bench-protocols/
#
# It builds the release ingestion, worker and loadgen, starts throwaway Redis and ClickHouse on
# free loopback ports (infra/test-servers.sh), and makes BENCH_REPEAT rounds of three runs, each
# against fresh services (worker, ingestion with a syslog TCP listener) with their own queue and
# database, each waiting until ClickHouse counts every event:
#   ingest: BENCH_EVENTS events to POST /ingest as JSON arrays of 1,000 (`loadgen batch`);
#   bulk:   the same events as Elasticsearch bulk bodies of 1,000 `create` documents to
#           POST /_bulk (`loadgen batch --format bulk`);
#   syslog: the same number of RFC 5424 lines, octet-counted, over ONE TCP connection
#           (`loadgen syslog-tcp`).
# Options (environment): BENCH_REPEAT=1 BENCH_EVENTS=200000 BENCH_CONNECTIONS=4 BENCH_SKIP_BUILD=1
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench-protocols
cd "$REPO_ROOT"

REPEAT="${BENCH_REPEAT:-1}"
EVENTS="${BENCH_EVENTS:-200000}"
CONNECTIONS="${BENCH_CONNECTIONS:-4}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
WORK="$TARGET_DIR/bench-protocols"
RESULTS="$WORK/results"
export RUST_LOG="${RUST_LOG:-warn}"

STARTED_PIDS=()
cleanup() {
    stop_children "${STARTED_PIDS[@]}"
    "$INFRA_DIR/test-servers.sh" clean "$WORK/servers" >&2 || true
}
trap cleanup EXIT

rm -rf "$RESULTS" "$WORK/logs"
mkdir -p "$RESULTS" "$WORK/logs"
if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p ingestion -p worker -p loadgen
fi
env_lines="$("$INFRA_DIR/test-servers.sh" start "$WORK/servers")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"

start_services() {
    local name="$1" grpc ingestion
    grpc="$(free_port)"
    ingestion="$(free_port "$grpc")"
    SYSLOG_PORT="$(free_port "$ingestion")"
    local common=(
        "REDIS_URL=$TEST_REDIS_URL" "REDIS_QUEUE_KEY=bench_$name"
        "CLICKHOUSE_URL=$TEST_CLICKHOUSE_URL" "CLICKHOUSE_DATABASE=bench_$name"
    )
    (cd "$WORK" && exec env "${common[@]}" WORKER_GRPC_LISTEN="127.0.0.1:$grpc" \
        WORKER_METRICS_ADDR=127.0.0.1:0 WORKER_ID="bench-$name" "$BIN/worker" >"$WORK/logs/$name-worker.log" 2>&1) &
    WORKER_PID=$!
    STARTED_PIDS+=("$WORKER_PID")
    wait_tcp "$grpc" 60 "$WORKER_PID" || die "worker did not start"
    (cd "$WORK" && exec env "${common[@]}" INGESTION_ADDR="127.0.0.1:$ingestion" \
        SYSLOG_TCP_ADDR="127.0.0.1:$SYSLOG_PORT" \
        WORKER_GRPC_URL="http://127.0.0.1:$grpc" "$BIN/ingestion" >"$WORK/logs/$name-ingestion.log" 2>&1) &
    INGESTION_PID=$!
    STARTED_PIDS+=("$INGESTION_PID")
    INGEST_URL="http://127.0.0.1:$ingestion"
    wait_http "$INGEST_URL/health" 30 "" "$INGESTION_PID" || die "ingestion did not start"
}

stop_services() {
    local pid
    for pid in "$INGESTION_PID" "$WORKER_PID"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

run_scenario() {
    local kind="$1" run="$2" name="$1$2" output="$RESULTS/$1-$2.json"
    start_services "$name"
    case "$kind" in
    ingest | bulk)
        "$BIN/loadgen" batch --url "$INGEST_URL" --connections "$CONNECTIONS" --events "$EVENTS" \
            --batch 1000 --format "$([[ "$kind" == bulk ]] && echo bulk || echo json)" \
            --clickhouse "$TEST_CLICKHOUSE_URL" --database "bench_$name" >"$output"
        ;;
    syslog)
        "$BIN/loadgen" syslog-tcp --addr "127.0.0.1:$SYSLOG_PORT" --lines "$EVENTS" \
            --clickhouse "$TEST_CLICKHOUSE_URL" --database "bench_$name" >"$output"
        ;;
    esac
    stop_services
    curl -sS "$TEST_CLICKHOUSE_URL/" --data-binary "DROP DATABASE IF EXISTS bench_$name" >/dev/null
    log "$kind run $run: $(cat "$output")"
}

for run in $(seq 1 "$REPEAT"); do
    run_scenario ingest "$run"
    run_scenario bulk "$run"
    run_scenario syslog "$run"
done

printf '| run | scenario | events/s end to end | events/s sent (HTTP answered / written) |\n|---|---|---|---|\n'
for run in $(seq 1 "$REPEAT"); do
    for kind in ingest bulk syslog; do
        python3 - "$RESULTS/$kind-$run.json" "$kind" "$run" <<'EOF'
import json, sys
path, kind, run = sys.argv[1:]
f = json.load(open(path))
label = {"ingest": "`POST /ingest` JSON, 1,000 a request", "bulk": "`POST /_bulk`, 1,000 documents a request",
         "syslog": "syslog RFC 5424, one TCP connection"}[kind]
end = f.get("end_to_end_events_per_second") or f.get("end_to_end_lines_per_second")
sent = f.get("http_events_per_second") or f.get("written_lines_per_second")
print(f"| {run} | {label} | {end:,.0f} | {sent:,.0f} |")
EOF
    done
done
