#!/usr/bin/env bash
# Loki push throughput (the "Loki push" section of docs/BENCHMARKS.md), in a few minutes.
#
#   infra/bench-loki.sh                 # prints the report (markdown); raw JSON in target/bench-loki/
#
# It builds the release ingestion, worker and loadgen, starts throwaway Redis and ClickHouse on
# free loopback ports (infra/test-servers.sh), and makes BENCH_REPEAT rounds of three runs, each
# against fresh services (worker, ingestion) on free ports with their own queue and database,
# each run `loadgen batch` with BENCH_EVENTS events in requests of 1,000 over BENCH_CONNECTIONS
# keep-alive connections, then waiting until ClickHouse counts every event:
#   loki-protobuf: POST /loki/api/v1/push, snappy-compressed protobuf, one stream per service
#                  and level label set, host and request_id as structured metadata;
#   loki-json:     the same push in Loki's JSON;
#   ingest:        the same events to POST /ingest as JSON arrays, for reference.
# They alternate so that drifting machine load hits all alike.
#
# Options (environment):
#   BENCH_REPEAT=2  BENCH_EVENTS=200000  BENCH_CONNECTIONS=4
#   BENCH_SKIP_BUILD=1   use the release binaries already built
#   RUST_LOG=info        the services' log level (info: one access-log line per request)
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench-loki
cd "$REPO_ROOT"

REPEAT="${BENCH_REPEAT:-2}"
EVENTS="${BENCH_EVENTS:-200000}"
CONNECTIONS="${BENCH_CONNECTIONS:-4}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
WORK="$TARGET_DIR/bench-loki"
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
started_at=$SECONDS
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p ingestion -p worker -p loadgen
fi

env_lines="$("$INFRA_DIR/test-servers.sh" start "$WORK/servers")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"

ch() {
    curl -sS --fail-with-body "$TEST_CLICKHOUSE_URL/?database=$1" --data-binary "$2"
}

# start_services NAME: a fresh worker and ingestion on free ports with their own queue key and
# database. Sets INGEST_URL, WORKER_PID, INGESTION_PID.
start_services() {
    local name="$1" grpc ingestion
    grpc="$(free_port)"
    ingestion="$(free_port "$grpc")"
    local common=(
        "REDIS_URL=$TEST_REDIS_URL" "REDIS_QUEUE_KEY=bench_$name"
        "CLICKHOUSE_URL=$TEST_CLICKHOUSE_URL" "CLICKHOUSE_DATABASE=bench_$name"
    )
    # From the work directory, so that no developer's ./.env is read.
    (cd "$WORK" && exec env "${common[@]}" WORKER_GRPC_LISTEN="127.0.0.1:$grpc" \
        WORKER_METRICS_ADDR=127.0.0.1:0 WORKER_ID="bench-$name" "$BIN/worker" >"$WORK/logs/$name-worker.log" 2>&1) &
    WORKER_PID=$!
    STARTED_PIDS+=("$WORKER_PID")
    wait_tcp "$grpc" 60 "$WORKER_PID" || die "worker did not start: $(tail -5 "$WORK/logs/$name-worker.log")"
    (cd "$WORK" && exec env "${common[@]}" INGESTION_ADDR="127.0.0.1:$ingestion" \
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

# timed OUTPUT COMMAND...: runs COMMAND with its stdout in OUTPUT; prints its CPU seconds.
timed() {
    local output="$1" cpu
    shift
    local TIMEFORMAT='%U %S'
    cpu="$( { time "$@" >"$output"; } 2>&1)" || { printf '%s\n' "$cpu" >&2; return 1; }
    awk '{ printf "%.2f", $(NF-1) + $NF }' <<<"$cpu"
}

# run_scenario KIND RUN: one run against fresh services; writes RESULTS/KIND-RUN.json with the
# CPU seconds of the generator and of the services added.
run_scenario() {
    local kind="$1" run="$2" name="${1//-/_}$2" output="$RESULTS/$1-$2.json" generator_cpu
    start_services "$name"
    generator_cpu="$(timed "$output.raw" "$BIN/loadgen" batch --url "$INGEST_URL" \
        --format "$([[ "$kind" == ingest ]] && echo json || echo "$kind")" \
        --connections "$CONNECTIONS" --events "$EVENTS" --batch 1000 \
        --clickhouse "$TEST_CLICKHOUSE_URL" --database "bench_$name")" ||
        die "loadgen batch failed: $(tail -5 "$WORK/logs/$name-ingestion.log")"
    python3 - "$output.raw" "$generator_cpu" "$(cpu_seconds "$INGESTION_PID")" \
        "$(cpu_seconds "$WORKER_PID")" >"$output" <<'EOF'
import json, sys
raw, generator, ingestion, worker = sys.argv[1:]
figures = json.load(open(raw))
figures.update(generator_cpu_s=float(generator), ingestion_cpu_s=float(ingestion),
               worker_cpu_s=float(worker))
print(json.dumps(figures))
EOF
    rm -f "$output.raw"
    stop_services
    ch default "DROP DATABASE IF EXISTS bench_$name" >/dev/null
    log "$kind run $run: $(cat "$output")"
}

for run in $(seq 1 "$REPEAT"); do
    run_scenario loki-protobuf "$run"
    run_scenario loki-json "$run"
    run_scenario ingest "$run"
done

# ---------------------------------------------------------------- report
machine="$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), \
$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo) GB memory, Linux $(uname -r); \
ClickHouse $(ch default 'SELECT version()' | tr -d '\n'), \
Redis $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'), $(rustc --version | cut -d' ' -f1-2)"
python3 - "$RESULTS" "$REPEAT" "$EVENTS" "$CONNECTIONS" "$machine" "$load_before" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$((SECONDS - started_at))" \
    "$(env | grep -E '^(WORKER|QUEUE|INGEST)_' | sort | tr '\n' ' ' | sed 's/ $//')" \
    <<'EOF' | tee "$WORK/report.md"
import json, statistics, sys, time
results, repeat, events, connections, machine, load, commit, seconds, settings = sys.argv[1:]
runs = {kind: [json.load(open(f"{results}/{kind}-{run}.json")) for run in range(1, int(repeat) + 1)]
        for kind in ("loki-protobuf", "loki-json", "ingest")}

def latency(figures):
    summary = figures["request_latency"]
    return summary["p50_ms"], summary["p99_ms"]

print(f"Run of {time.strftime('%Y-%m-%d', time.gmtime())} at commit `{commit}`, {seconds} s in all, on {machine}. "
      f"Load generator, services, Redis and ClickHouse share the cores; load average before the run {load}. "
      f"Services at `RUST_LOG={__import__('os').environ.get('RUST_LOG', 'info')}`; settings: {settings or 'defaults'}.\n")
print(f"Command: `infra/bench-loki.sh` ({repeat} runs of each, {int(events):,} events a run, "
      f"1,000 a request, {connections} connections; medians in bold).\n")
print("| run | body | events/s end to end | events/s HTTP side | request p50 / p99 ms | 429 retried "
      "| ingestion CPU µs/event | CPU s: ingestion / worker / generator |")
print("|---|---|---|---|---|---|---|---|")
for kind, label in (("loki-protobuf", "Loki protobuf + snappy"), ("loki-json", "Loki JSON"),
                    ("ingest", "`/ingest` JSON array")):
    for run, figures in enumerate(runs[kind], 1):
        p50, p99 = latency(figures)
        per_event = figures["ingestion_cpu_s"] / figures["accepted"] * 1e6
        print(f"| {run} | {label} | {figures['end_to_end_events_per_second']:,.0f} | "
              f"{figures['http_events_per_second']:,.0f} | {p50:.1f} / {p99:.1f} | {figures['throttled_429']} | "
              f"{per_event:.1f} | {figures['ingestion_cpu_s']} / {figures['worker_cpu_s']} / "
              f"{figures['generator_cpu_s']} |")
    median = lambda key: statistics.median(figures[key] for figures in runs[kind])
    per_event = statistics.median(f["ingestion_cpu_s"] / f["accepted"] * 1e6 for f in runs[kind])
    print(f"| **median** | {label} | **{median('end_to_end_events_per_second'):,.0f}** | "
          f"**{median('http_events_per_second'):,.0f}** | | | **{per_event:.1f}** | |")
EOF
