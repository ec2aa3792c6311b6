#!/usr/bin/env bash
# Drain throughput with one worker and with two (issue 4: "two or more worker processes drain the
# same queue without taking the same event twice and drain faster than one").
#
#   infra/bench-drain.sh                  # 500k events, 3 rounds of 1 worker then 2 workers
#   DRAIN_EVENTS=1000000 DRAIN_ROUNDS=5 DRAIN_WORKERS="1 2 3" infra/bench-drain.sh
#
# It builds the release binaries, starts throwaway Redis and ClickHouse (infra/test-servers.sh),
# and queues DRAIN_EVENTS events once, through the real ingestion service (batches of 1,000, no
# worker running), into a source list. Then, for each round and each worker count, alternating so
# that other work on the machine hits every configuration alike:
#   1. drops the database, starts N workers (WORKER_ID drain-1..N, poll every 50 ms) and waits
#      for their gRPC ports (migrations are done by then);
#   2. copies the source list onto the queue key (Redis COPY, one atomic step) and starts the clock;
#   3. stops the clock when ClickHouse counts DRAIN_EVENTS rows, then checks that they are
#      DRAIN_EVENTS distinct ids (no event taken twice) and that the queue and every processing
#      list are empty.
# It prints a Markdown table (per run and the median per worker count, with the ratio to one
# worker) and keeps the raw figures in target/bench-drain/.
#
# Options (environment): DRAIN_EVENTS=500000, DRAIN_ROUNDS=3, DRAIN_WORKERS="1 2",
# BENCH_SKIP_BUILD=1 (use the release binaries already built), any WORKER_* setting (e.g.
# WORKER_BATCH_SIZE=10000) passes through to the workers.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench-drain
cd "$REPO_ROOT"

EVENTS="${DRAIN_EVENTS:-500000}"
ROUNDS="${DRAIN_ROUNDS:-3}"
read -r -a WORKER_COUNTS <<<"${DRAIN_WORKERS:-1 2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
WORK="$TARGET_DIR/bench-drain"
export RUST_LOG="${RUST_LOG:-warn}"

SOURCE_KEY=drain_source
QUEUE_KEY=drain_queue
DATABASE=bench_drain

STARTED_PIDS=()
stop_started() {
    stop_children "${STARTED_PIDS[@]}"
    STARTED_PIDS=()
}
cleanup() {
    stop_started
    "$INFRA_DIR/test-servers.sh" clean "$WORK/servers" >&2 || true
}
trap cleanup EXIT

rm -rf "$WORK/logs" "$WORK/results"
mkdir -p "$WORK/logs" "$WORK/results"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p ingestion -p worker -p loadgen
fi
command -v jq >/dev/null 2>&1 || die "jq is needed (apt-get install jq)"

env_lines="$("$INFRA_DIR/test-servers.sh" start "$WORK/servers")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"

redis() { redis-cli -p "$TEST_REDIS_PORT" "$@"; }
ch() { curl -sS --fail-with-body "$TEST_CLICKHOUSE_URL/" --data-binary "$1"; }
REDIS_PID="$(pid_from_file "$TEST_REDIS_PIDFILE")"
CLICKHOUSE_PID="$(pid_from_file "$TEST_CLICKHOUSE_PIDFILE")"

# ------------------------------------------------------------------ the events, queued once
log "queueing $EVENTS events through the ingestion service (no worker running)"
ingestion_port="$(free_port)"
(cd "$WORK" && exec env REDIS_URL="$TEST_REDIS_URL" REDIS_QUEUE_KEY="$SOURCE_KEY" QUEUE_MAX_EVENTS=0 \
    INGESTION_ADDR="127.0.0.1:$ingestion_port" WORKER_GRPC_URL="http://127.0.0.1:1" \
    "$BIN/ingestion" >"$WORK/logs/ingestion.log" 2>&1) &
STARTED_PIDS+=("$!")
wait_http "http://127.0.0.1:$ingestion_port/health" 30 "" "$!" || die "ingestion did not start"
"$BIN/loadgen" batch --url "http://127.0.0.1:$ingestion_port" --connections 4 --events "$EVENTS" \
    --batch 1000 >"$WORK/results/preload.json" || die "preloading failed"
stop_started
queued="$(redis GET "$SOURCE_KEY:events")"
[[ "$queued" == "$EVENTS" ]] || die "the source list holds $queued events, not $EVENTS"

# ------------------------------------------------------------------ one run
# drain_run WORKERS ROUND: prints one JSON line with the run's figures.
drain_run() {
    local workers="$1" round="$2" i port ports=() pids=()
    ch "DROP DATABASE IF EXISTS $DATABASE" >/dev/null
    redis DEL "$QUEUE_KEY" "$QUEUE_KEY:events" >/dev/null
    for ((i = 1; i <= workers; i++)); do
        port="$(free_port "${ports[@]}")"
        ports+=("$port")
        (cd "$WORK" && exec env REDIS_URL="$TEST_REDIS_URL" REDIS_QUEUE_KEY="$QUEUE_KEY" \
            CLICKHOUSE_URL="$TEST_CLICKHOUSE_URL" CLICKHOUSE_DATABASE="$DATABASE" \
            WORKER_ID="drain-$i" WORKER_GRPC_LISTEN="127.0.0.1:$port" WORKER_METRICS_ADDR=127.0.0.1:0 \
            WORKER_POLL_INTERVAL_MS="${WORKER_POLL_INTERVAL_MS:-50}" \
            "$BIN/worker" >>"$WORK/logs/worker-$workers-$round-$i.log" 2>&1) &
        pids+=("$!")
        STARTED_PIDS+=("$!")
    done
    for ((i = 0; i < workers; i++)); do
        wait_tcp "${ports[$i]}" 60 "${pids[$i]}" || die "worker $((i + 1)) did not start"
    done
    local redis_mark clickhouse_mark start elapsed count=0
    redis_mark="$(cpu_seconds "$REDIS_PID")"
    clickhouse_mark="$(cpu_seconds "$CLICKHOUSE_PID")"
    start="$(date +%s.%N)"
    redis COPY "$SOURCE_KEY:events" "$QUEUE_KEY:events" REPLACE >/dev/null
    redis COPY "$SOURCE_KEY" "$QUEUE_KEY" REPLACE >/dev/null
    local deadline=$((SECONDS + 600))
    while ((count < EVENTS)); do
        ((SECONDS < deadline)) || die "$workers worker(s) stored $count of $EVENTS in 600 s"
        sleep 0.05
        count="$(ch "SELECT count() FROM $DATABASE.logs")"
    done
    elapsed="$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')"
    local worker_cpu=0 pid
    for pid in "${pids[@]}"; do
        worker_cpu="$(awk -v a="$worker_cpu" -v b="$(cpu_seconds "$pid")" 'BEGIN { printf "%.2f", a + b }')"
    done
    local clickhouse_cpu redis_cpu
    clickhouse_cpu="$(awk -v a="$(cpu_seconds "$CLICKHOUSE_PID")" -v b="$clickhouse_mark" 'BEGIN { printf "%.2f", a - b }')"
    redis_cpu="$(awk -v a="$(cpu_seconds "$REDIS_PID")" -v b="$redis_mark" 'BEGIN { printf "%.2f", a - b }')"
    stop_started
    local distinct rows leftover
    read -r rows distinct < <(ch "SELECT count(), uniqExact(id) FROM $DATABASE.logs FORMAT TSV")
    leftover="$(redis --scan --pattern "$QUEUE_KEY:processing:*" | wc -l)"
    [[ "$rows" == "$EVENTS" && "$distinct" == "$EVENTS" ]] ||
        die "$workers worker(s): $rows rows, $distinct distinct ids, expected $EVENTS of each"
    [[ "$(redis LLEN "$QUEUE_KEY")" == 0 && "$leftover" == 0 ]] ||
        die "$workers worker(s): the queue or a processing list is not empty"
    jq -nc --argjson workers "$workers" --argjson round "$round" --argjson seconds "$elapsed" \
        --argjson events "$EVENTS" --argjson distinct "$distinct" --argjson worker_cpu "$worker_cpu" \
        --argjson clickhouse_cpu "$clickhouse_cpu" --argjson redis_cpu "$redis_cpu" \
        '{workers: $workers, round: $round, seconds: $seconds, events_per_s: ($events / $seconds | floor),
          distinct: $distinct, worker_cpu_s: $worker_cpu, clickhouse_cpu_s: $clickhouse_cpu,
          redis_cpu_s: $redis_cpu}'
}

RUNS="$WORK/results/runs.jsonl"
: >"$RUNS"
for ((round = 1; round <= ROUNDS; round++)); do
    for workers in "${WORKER_COUNTS[@]}"; do
        log "round $round: $workers worker(s)"
        drain_run "$workers" "$round" | tee -a "$RUNS" >&2
    done
done

# ------------------------------------------------------------------ report
jq -rs --arg events "$EVENTS" --arg load "$load_before" --arg commit "$(git rev-parse --short HEAD)" '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def thousands: tostring | [scan("\\d")] | reverse | [range(0; length; 3) as $i | .[$i:$i + 3] | reverse | join("")]
                 | reverse | join(",");
  (group_by(.workers) | map({workers: .[0].workers, rate: (map(.events_per_s) | median),
                             seconds: (map(.seconds) | median)})) as $medians
  | ($medians[0].rate) as $base
  # Paired within a round (the runs of a round are back to back, so they share the background
  # load of the machine): the rate of each configuration over the rate of the first one.
  | (group_by(.round) | map(.[0].events_per_s as $first | map({workers, ratio: (.events_per_s / $first)}))
     | add | group_by(.workers) | map({key: (.[0].workers | tostring), value: (map(.ratio) | median)})
     | from_entries) as $paired
  | "Drain of \($events) queued events, commit `\($commit)`, load average at the start \($load).\n",
    "| round | workers | seconds | events/s | distinct ids stored | CPU s: workers / clickhouse / redis |",
    "|---|---|---|---|---|---|",
    (.[] | "| \(.round) | \(.workers) | \(.seconds) | \(.events_per_s | thousands) | \(.distinct | thousands) | \(.worker_cpu_s) / \(.clickhouse_cpu_s) / \(.redis_cpu_s) |"),
    "",
    "| workers | median seconds | median events/s | ratio of medians | median of per-round ratios |",
    "|---|---|---|---|---|",
    ($medians[] | "| \(.workers) | \(.seconds) | \(.rate | floor | thousands) | \(.rate / $base * 100 | round / 100) | \($paired[.workers | tostring] * 100 | round / 100) |")
' "$RUNS" | tee "$WORK/results/report.md"
