#!/usr/bin/env bash
# The throughput/freshness/query benchmark (issue 5), on this machine, in about 10 minutes.
#
#   infra/bench.sh                       # every scenario; rewrites the generated part of docs/BENCHMARKS.md
#   WORKER_BATCH_SIZE=5000 infra/bench.sh   # any service setting passes through the environment
#
# It builds the release binaries (ingestion, worker, query, loadgen), starts throwaway Redis and
# ClickHouse on free loopback ports (infra/test-servers.sh), starts a fresh set of services for
# each scenario on free ports, runs:
#   1. single-event POST /ingest at 64 connections: requests/s, p50/p99 (BENCH_REPEAT runs, median)
#   2. batch ingest, 1,000 events a request, of 2M events until ClickHouse counts them all:
#      events/s end to end, and the peak RSS (VmHWM) and CPU time of every process
#   3. freshness under light load: 202 -> the event is returned by GET /logs, p50/p99
#   4. query latency with 1M and 10M rows stored (generated in ClickHouse): service+level+1 h
#      range limit 100, and deep offsets
#   5. baselines: raw ClickHouse inserts of the same rows over HTTP in 10k-row batches
#      (JSONEachRow and RowBinary), and redis-benchmark LPUSH pipelined
# and writes the figures between the `bench.sh` markers of docs/BENCHMARKS.md (the rest of the
# file is kept). Raw results (JSON, logs, profiles) stay in target/bench/.
#
# Options (environment):
#   BENCH_REPEAT=3            runs of the noisy scenarios (1, 5); the report shows medians
#   BENCH_EVENTS=2000000      events of scenario 2 (and rows of the raw baseline)
#   BENCH_SINGLE_SECONDS=10   measured seconds of each scenario-1 run (after 2 s of warm-up)
#   BENCH_CONNECTIONS=64      connections of scenario 1
#   BENCH_BATCH_CONNECTIONS=4 connections of scenario 2
#   BENCH_PROFILE=1           perf-record ingestion during scenario 1 and the worker during scenario 2
#   BENCH_SKIP_BUILD=1        use the release binaries already built
#   BENCH_OUT=docs/BENCHMARKS.md
#   RUST_LOG=info             the services' log level (info: one access-log line per request)
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench
cd "$REPO_ROOT"

REPEAT="${BENCH_REPEAT:-3}"
EVENTS="${BENCH_EVENTS:-2000000}"
SINGLE_SECONDS="${BENCH_SINGLE_SECONDS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
BATCH_CONNECTIONS="${BENCH_BATCH_CONNECTIONS:-4}"
OUT="${BENCH_OUT:-$REPO_ROOT/docs/BENCHMARKS.md}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
WORK="$TARGET_DIR/bench"
RESULTS="$WORK/results"
export RUST_LOG="${RUST_LOG:-info}"

STARTED_PIDS=()
cleanup() {
    stop_children "${STARTED_PIDS[@]}"
    "$INFRA_DIR/test-servers.sh" clean "$WORK/servers" >&2 || true
}
trap cleanup EXIT

rm -rf "$RESULTS" "$WORK/logs"
mkdir -p "$RESULTS" "$WORK/logs"
bench_started=$SECONDS
# Other work on the machine skews every figure: the report shows the load average at the start.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p ingestion -p worker -p query -p loadgen
fi
command -v redis-benchmark >/dev/null 2>&1 || ensure_packages

env_lines="$("$INFRA_DIR/test-servers.sh" start "$WORK/servers")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"

# ch DATABASE SQL: runs SQL over ClickHouse's HTTP interface.
ch() {
    curl -sS --fail-with-body "$TEST_CLICKHOUSE_URL/?database=$1" --data-binary "$2"
}

# create_logs_database NAME: a database with the logs table of migrations/ (for the databases
# no worker creates).
create_logs_database() {
    ch default "DROP DATABASE IF EXISTS $1" >/dev/null
    ch default "CREATE DATABASE $1" >/dev/null
    local statement
    while IFS= read -r -d $'\x1e' statement; do
        [[ -n "${statement//[[:space:]]/}" ]] && ch "$1" "$statement" >/dev/null
    done < <(sed 's/--.*$//' migrations/*.sql | tr ';' $'\x1e')
}

peak_rss_mb() {
    awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0
}

REDIS_PID="$(pid_from_file "$TEST_REDIS_PIDFILE")"
CLICKHOUSE_PID="$(pid_from_file "$TEST_CLICKHOUSE_PIDFILE")"

# start_services NAME: a fresh worker, ingestion and query on free ports, with their own queue
# key and database. Sets INGEST_URL, QUERY_URL, WORKER_PID, INGESTION_PID, QUERY_PID.
start_services() {
    local name="$1" grpc ingestion query
    grpc="$(free_port)"
    ingestion="$(free_port "$grpc")"
    query="$(free_port "$grpc" "$ingestion")"
    local common=(
        "REDIS_URL=$TEST_REDIS_URL" "REDIS_QUEUE_KEY=bench_$name"
        "CLICKHOUSE_URL=$TEST_CLICKHOUSE_URL" "CLICKHOUSE_DATABASE=bench_$name"
    )
    # From target/bench, so that no developer's ./.env is read.
    (cd "$WORK" && exec env "${common[@]}" WORKER_GRPC_LISTEN="127.0.0.1:$grpc" \
        WORKER_METRICS_ADDR=127.0.0.1:0 WORKER_ID="bench-$name" "$BIN/worker" >"$WORK/logs/$name-worker.log" 2>&1) &
    WORKER_PID=$!
    STARTED_PIDS+=("$WORKER_PID")
    wait_tcp "$grpc" 60 "$WORKER_PID" || die "worker did not start: $(tail -5 "$WORK/logs/$name-worker.log")"
    (cd "$WORK" && exec env "${common[@]}" INGESTION_ADDR="127.0.0.1:$ingestion" \
        WORKER_GRPC_URL="http://127.0.0.1:$grpc" "$BIN/ingestion" >"$WORK/logs/$name-ingestion.log" 2>&1) &
    INGESTION_PID=$!
    STARTED_PIDS+=("$INGESTION_PID")
    (cd "$WORK" && exec env "${common[@]}" QUERY_ADDR="127.0.0.1:$query" \
        "$BIN/query" >"$WORK/logs/$name-query.log" 2>&1) &
    QUERY_PID=$!
    STARTED_PIDS+=("$QUERY_PID")
    INGEST_URL="http://127.0.0.1:$ingestion"
    QUERY_URL="http://127.0.0.1:$query"
    wait_http "$INGEST_URL/health" 30 "" "$INGESTION_PID" || die "ingestion did not start"
    wait_http "$QUERY_URL/health" 30 "" "$QUERY_PID" || die "query did not start"
    # Redis and ClickHouse run for the whole benchmark: their CPU is reported from here on.
    REDIS_CPU_MARK="$(cpu_seconds "$REDIS_PID")"
    CLICKHOUSE_CPU_MARK="$(cpu_seconds "$CLICKHOUSE_PID")"
}

# cpu_since PID MARK: CPU seconds of PID since it had MARK.
cpu_since() {
    awk -v now="$(cpu_seconds "$1")" -v mark="$2" 'BEGIN { printf "%.2f", now - mark }'
}

stop_services() {
    local pid
    for pid in "$INGESTION_PID" "$QUERY_PID" "$WORKER_PID"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# processes_json: peak RSS (MB) and CPU seconds of every process of the current run.
processes_json() {
    printf '{"ingestion":{"rss_mb":%s,"cpu_s":%s},"worker":{"rss_mb":%s,"cpu_s":%s},"query":{"rss_mb":%s,"cpu_s":%s},"redis":{"cpu_s":%s},"clickhouse":{"cpu_s":%s}}' \
        "$(peak_rss_mb "$INGESTION_PID")" "$(cpu_seconds "$INGESTION_PID")" \
        "$(peak_rss_mb "$WORKER_PID")" "$(cpu_seconds "$WORKER_PID")" \
        "$(peak_rss_mb "$QUERY_PID")" "$(cpu_seconds "$QUERY_PID")" \
        "$(cpu_since "$REDIS_PID" "$REDIS_CPU_MARK")" "$(cpu_since "$CLICKHOUSE_PID" "$CLICKHOUSE_CPU_MARK")"
}

# loadgen_timed OUTPUT ARGS...: runs the load generator, writes its JSON with its own CPU
# seconds added as "loadgen_cpu_s".
loadgen_timed() {
    local output="$1" figures cpu
    shift
    local TIMEFORMAT='%U %S'
    { cpu="$( { time "$BIN/loadgen" "$@" >"$output.raw"; } 2>&1)"; } || die "loadgen $* failed: $(cat "$output.raw") $cpu"
    figures="$(cat "$output.raw")"
    cpu="$(awk '{ printf "%.2f", $(NF-1) + $NF }' <<<"$cpu")"
    jq -c --argjson cpu "$cpu" '. + {loadgen_cpu_s: $cpu}' <<<"$figures" >"$output"
    rm -f "$output.raw"
}

# profile PID SECONDS OUTPUT: perf samples of PID for SECONDS, reduced to the top symbols.
profile() {
    command -v perf >/dev/null 2>&1 || return 0
    perf record -F 499 -g -p "$1" -o "$3.data" -- sleep "$2" >/dev/null 2>&1 || return 0
    perf report -i "$3.data" --stdio --no-children --percent-limit 1.5 --sort dso,symbol 2>/dev/null |
        grep -E '^ +[0-9]' | head -40 >"$3" || true
    rm -f "$3.data"
}

# ---------------------------------------------------------------- 5. baselines (first: idle machine)
log "scenario 5: redis-benchmark LPUSH pipelined, raw ClickHouse inserts"
for run in $(seq 1 "$REPEAT"); do
    redis-benchmark -p "$TEST_REDIS_PORT" -t lpush -n "$EVENTS" -c 50 -P 50 -d 300 --csv 2>/dev/null |
        awk -F'"' 'NR > 1 && $2 == "LPUSH" { printf "{\"rps\":%s}\n", $4 }' >"$RESULTS/redis-$run.json"
    redis-cli -p "$TEST_REDIS_PORT" DEL mylist >/dev/null
done
for format in json rowbinary; do
    for run in $(seq 1 "$REPEAT"); do
        create_logs_database bench_raw
        loadgen_timed "$RESULTS/raw-$format-$run.json" raw-insert --clickhouse "$TEST_CLICKHOUSE_URL" \
            --database bench_raw --rows "$EVENTS" --batch 10000 --format "$format"
    done
done
ch default "DROP DATABASE IF EXISTS bench_raw" >/dev/null

# ---------------------------------------------------------------- 1. single-event ingest
log "scenario 1: single-event POST /ingest, $CONNECTIONS connections, $REPEAT x ${SINGLE_SECONDS}s"
for run in $(seq 1 "$REPEAT"); do
    start_services "single$run"
    if [[ -n "${BENCH_PROFILE:-}" && "$run" == 1 ]]; then
        profile "$INGESTION_PID" "$SINGLE_SECONDS" "$RESULTS/profile-ingestion-single.txt" &
        profiler=$!
    fi
    loadgen_timed "$RESULTS/single-$run.json" single --url "$INGEST_URL" \
        --connections "$CONNECTIONS" --seconds "$SINGLE_SECONDS" --warmup-seconds 2
    [[ -n "${profiler:-}" ]] && { wait "$profiler" || true; profiler=""; }
    processes_json >"$RESULTS/single-$run-processes.json"
    stop_services
    ch default "DROP DATABASE IF EXISTS bench_single$run" >/dev/null
done

# ---------------------------------------------------------------- 2. batch ingest end to end
log "scenario 2: batch ingest of $EVENTS events, 1,000 a request, until ClickHouse counts them"
start_services batch
if [[ -n "${BENCH_PROFILE:-}" ]]; then
    profile "$WORKER_PID" 8 "$RESULTS/profile-worker-batch.txt" &
    profiler=$!
fi
loadgen_timed "$RESULTS/batch.json" batch --url "$INGEST_URL" --connections "$BATCH_CONNECTIONS" \
    --events "$EVENTS" --batch 1000 --clickhouse "$TEST_CLICKHOUSE_URL" --database bench_batch
[[ -n "${profiler:-}" ]] && { wait "$profiler" || true; profiler=""; }
processes_json >"$RESULTS/batch-processes.json"
stop_services
ch default "DROP DATABASE IF EXISTS bench_batch" >/dev/null

# ---------------------------------------------------------------- 3. freshness
log "scenario 3: freshness under light load (200 probes at 20/s)"
start_services fresh
loadgen_timed "$RESULTS/freshness.json" freshness --url "$INGEST_URL" --query-url "$QUERY_URL" \
    --samples 200 --rate 20
stop_services
ch default "DROP DATABASE IF EXISTS bench_fresh" >/dev/null

# ---------------------------------------------------------------- 4. query latency
# Rows are generated inside ClickHouse (the ingest path is measured above): 20 services, levels
# weighted like real logs, timestamps spread over the last 24 h.
generate_rows() {
    ch bench_query "INSERT INTO logs SELECT
        toUInt64(toUInt64(now()) * 1000000000 - (number % 86400) * 1000000000 - intHash64(number) % 1000000000) AS ts,
        ts,
        UUIDNumToString(MD5(concat('id', toString(number)))),
        lower(hex(MD5(concat('trace', toString(number))))),
        '',
        ['auth','billing','cart','catalog','checkout','gateway','inventory','mailer','orders','payments',
         'pricing','profile','recommend','search','session','shipping','stock','tax','users','web'][intHash32(number) % 20 + 1],
        CAST(multiIf(intHash32(number + 7) % 100 < 50, 'INFO', intHash32(number + 7) % 100 < 70, 'DEBUG',
                     intHash32(number + 7) % 100 < 85, 'WARN', intHash32(number + 7) % 100 < 95, 'ERROR',
                     intHash32(number + 7) % 100 < 98, 'TRACE', 'FATAL')
             AS Enum8('TRACE' = 1, 'DEBUG' = 5, 'INFO' = 9, 'WARN' = 13, 'ERROR' = 17, 'FATAL' = 21)),
        concat('request ', toString(number), ' handled in ', toString(intHash32(number) % 900 + 1), ' ms'),
        ['host', 'request_id'],
        [concat('web-', toString(number % 8)), lower(hex(number))]
    FROM numbers($1, $2)" >/dev/null
}

query_scenarios() {
    local rows="$1" from to
    from="$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
    to="$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)"
    loadgen_timed "$RESULTS/query-$rows-filtered.json" query --url "$QUERY_URL" --requests 200 \
        --path "/logs?service=checkout&level=ERROR&from=$from&to=$to&limit=100" \
        --path "/logs?service=payments&level=WARN&from=$from&to=$to&limit=100" \
        --path "/logs?service=auth&level=INFO&from=$from&to=$to&limit=100"
    loadgen_timed "$RESULTS/query-$rows-offset-service.json" query --url "$QUERY_URL" --requests 50 \
        --path "/logs?service=checkout&offset=20000&limit=100"
    loadgen_timed "$RESULTS/query-$rows-offset-all.json" query --url "$QUERY_URL" --requests 20 \
        --path "/logs?offset=100000&limit=100"
}

log "scenario 4: query latency at 1M and 10M rows"
start_services query # its worker creates bench_query and the logs table
generate_rows 0 1000000
sleep 2
query_scenarios 1M
generate_rows 1000000 9000000
sleep 2
query_scenarios 10M
stop_services
ch default "DROP DATABASE IF EXISTS bench_query" >/dev/null

# ---------------------------------------------------------------- report
log "writing $OUT"
{
    printf '{"nproc":%s,' "$(nproc)"
    printf '"memory_gb":%s,' "$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)"
    printf '"cpu":"%s",' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/"/\\"/g')"
    printf '"kernel":"%s",' "$(uname -r)"
    printf '"clickhouse":"%s",' "$(ch default 'SELECT version()' | tr -d '\n')"
    printf '"redis":"%s",' "$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
    printf '"rustc":"%s",' "$(rustc --version | cut -d' ' -f2)"
    printf '"date":"%s",' "$(date -u +%Y-%m-%d)"
    printf '"commit":"%s",' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf '"rust_log":"%s",' "$RUST_LOG"
    printf '"worker_settings":"%s",' "$(env | grep -E '^(WORKER|QUEUE|INGEST)_' | sort | tr '\n' ' ' | sed 's/ $//')"
    printf '"load_before":"%s",' "$load_before"
    printf '"seconds":%s}\n' "$((SECONDS - bench_started))"
} >"$RESULTS/machine.json"
python3 "$INFRA_DIR/bench_report.py" "$RESULTS" "$OUT"
log "done in $((SECONDS - bench_started)) s; raw results in $RESULTS"
