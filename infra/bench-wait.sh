#!/usr/bin/env bash
# The cost of REDIS_WAIT_REPLICAS=1 (a push is answered 202 only once a replica holds it) against
# REDIS_WAIT_REPLICAS=0, measured in the same run on the same Redis primary and replica.
#
#   infra/bench-wait.sh                   # 3 rounds, each: single events then batches, WAIT=0 then 1
#   WAIT_ROUNDS=5 WAIT_SECONDS=20 infra/bench-wait.sh
#
# It builds the release binaries (ingestion, loadgen), starts a primary, a replica and three
# sentinels (infra/test-sentinel.sh) and two ingestion services that find the primary through the
# sentinels, one with REDIS_WAIT_REPLICAS=0 and one with 1 (REDIS_WAIT_TIMEOUT_MS=500); no worker
# runs (QUEUE_MAX_EVENTS=0, the queue only grows; it is emptied between runs). Each round runs,
# back to back so that both settings share the background load of the machine:
#   - `loadgen single` (one event a request, WAIT_CONNECTIONS=64 connections, WAIT_SECONDS s)
#     against each service;
#   - `loadgen batch` (WAIT_BATCH_EVENTS=200000 events in requests of 1,000, 4 connections).
# It prints a Markdown table (every run, then the medians with their ratio to WAIT=0) and keeps
# the raw figures in target/bench-wait/.
#
# Options (environment): WAIT_ROUNDS=3, WAIT_SECONDS=10, WAIT_CONNECTIONS=64,
# WAIT_BATCH_EVENTS=200000, BENCH_SKIP_BUILD=1 (use the release binaries already built).
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench-wait
cd "$REPO_ROOT"

ROUNDS="${WAIT_ROUNDS:-3}"
SECONDS_PER_RUN="${WAIT_SECONDS:-10}"
CONNECTIONS="${WAIT_CONNECTIONS:-64}"
BATCH_EVENTS="${WAIT_BATCH_EVENTS:-200000}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
WORK="$TARGET_DIR/bench-wait"
export RUST_LOG="${RUST_LOG:-warn}"
QUEUE_KEY=wait_queue

STARTED_PIDS=()
cleanup() {
    stop_children "${STARTED_PIDS[@]}"
    "$INFRA_DIR/test-sentinel.sh" clean "$WORK/sentinel" >&2 || true
}
trap cleanup EXIT

rm -rf "$WORK/logs" "$WORK/results"
mkdir -p "$WORK/logs" "$WORK/results"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p ingestion -p loadgen
fi
command -v jq >/dev/null 2>&1 || die "jq is needed (apt-get install jq)"

env_lines="$("$INFRA_DIR/test-sentinel.sh" start "$WORK/sentinel")"
eval "$env_lines"
primary_port() {
    redis-cli -p "${TEST_SENTINEL_ADDRS##*:}" sentinel get-master-addr-by-name "$TEST_SENTINEL_MASTER" |
        sed -n 2p
}

declare -A URL=()
for wait in 0 1; do
    port="$(free_port)"
    (cd "$WORK" && exec env REDIS_SENTINELS="$TEST_SENTINEL_ADDRS" \
        REDIS_SENTINEL_MASTER="$TEST_SENTINEL_MASTER" REDIS_WAIT_REPLICAS="$wait" \
        REDIS_WAIT_TIMEOUT_MS=500 REDIS_QUEUE_KEY="$QUEUE_KEY-$wait" QUEUE_MAX_EVENTS=0 \
        INGESTION_ADDR="127.0.0.1:$port" OTLP_GRPC_ADDR=off WORKER_GRPC_URL="http://127.0.0.1:1" \
        "$BIN/ingestion" >"$WORK/logs/ingestion-wait-$wait.log" 2>&1) &
    STARTED_PIDS+=("$!")
    wait_http "http://127.0.0.1:$port/ready" 30 "" "$!" || die "ingestion (WAIT=$wait) did not get ready"
    URL[$wait]="http://127.0.0.1:$port"
done

RUNS="$WORK/results/runs.jsonl"
: >"$RUNS"
for ((round = 1; round <= ROUNDS; round++)); do
    for wait in 0 1; do
        redis-cli -p "$(primary_port)" DEL "$QUEUE_KEY-$wait" >/dev/null
        log "round $round: single events, REDIS_WAIT_REPLICAS=$wait"
        "$BIN/loadgen" single --url "${URL[$wait]}" --connections "$CONNECTIONS" \
            --seconds "$SECONDS_PER_RUN" |
            jq -c --argjson wait "$wait" --argjson round "$round" \
                '{round: $round, wait: $wait, scenario: "single", rate: .requests_per_second,
                  accepted, refused, errors, p50_ms: .latency.p50_ms, p99_ms: .latency.p99_ms}' |
            tee -a "$RUNS" >&2
    done
    for wait in 0 1; do
        redis-cli -p "$(primary_port)" DEL "$QUEUE_KEY-$wait" >/dev/null
        log "round $round: batches of 1,000, REDIS_WAIT_REPLICAS=$wait"
        "$BIN/loadgen" batch --url "${URL[$wait]}" --connections 4 --events "$BATCH_EVENTS" \
            --batch 1000 |
            jq -c --argjson wait "$wait" --argjson round "$round" \
                '{round: $round, wait: $wait, scenario: "batch", rate: .http_events_per_second,
                  accepted, refused: .rejected, errors: 0, p50_ms: .request_latency.p50_ms,
                  p99_ms: .request_latency.p99_ms}' |
            tee -a "$RUNS" >&2
    done
done

jq -rs --arg load "$load_before" --arg commit "$(git rev-parse --short HEAD)" '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  (group_by([.scenario, .wait]) | map({scenario: .[0].scenario, wait: .[0].wait,
      rate: (map(.rate) | median), p50: (map(.p50_ms) | median), p99: (map(.p99_ms) | median)})) as $m
  | "REDIS_WAIT_REPLICAS 0 vs 1, commit `\($commit)`, load average at the start \($load).\n",
    "| round | scenario | WAIT | rate (requests/s single, events/s batch) | accepted | refused | p50 ms | p99 ms |",
    "|---|---|---|---|---|---|---|---|",
    (.[] | "| \(.round) | \(.scenario) | \(.wait) | \(.rate) | \(.accepted) | \(.refused) | \(.p50_ms) | \(.p99_ms) |"),
    "",
    "| scenario | WAIT | median rate | ratio to WAIT=0 | median p50 ms | median p99 ms |",
    "|---|---|---|---|---|---|",
    ($m[] | . as $row | ($m | map(select(.scenario == $row.scenario and .wait == 0)) | .[0].rate) as $base
      | "| \(.scenario) | \(.wait) | \(.rate) | \(.rate / $base * 100 | round / 100) | \(.p50) | \(.p99) |")
' "$RUNS" | tee "$WORK/results/report.md"
