#!/usr/bin/env bash
# CPU per event, A/B (issue 15): a baseline build (main by default) against this working tree,
# measured interleaved in the same run on the same Redis and ClickHouse.
#
#   infra/bench-cpu.sh                         # 3 rounds of batch + single, both builds; prints the report
#   BENCH_SWEEP=1 infra/bench-cpu.sh           # and the sweep over request and worker batch sizes
#   BENCH_BASELINE_REF=abc123 infra/bench-cpu.sh   # another baseline
#
# It builds the release `ingestion` and `worker` of BENCH_BASELINE_REF in a git worktree of its
# own (BENCH_BASELINE_DIR, and a target directory of its own next to it, both kept between runs:
# cargo names a workspace's crates by their path inside the workspace, so two worktrees sharing
# one target directory would overwrite each other's crates) and of this working tree (with `loadgen`, which drives both builds alike), starts throwaway Redis and
# ClickHouse on free loopback ports (infra/test-servers.sh) and makes BENCH_ROUNDS rounds; each
# round runs, against fresh services on free ports with their own queue key and database:
#   batch:  BENCH_EVENTS events in JSON arrays of BENCH_BATCH over BENCH_BATCH_CONNECTIONS
#           connections (`loadgen batch`), until ClickHouse counts them all;
#   single: one-event POST /ingest at BENCH_CONNECTIONS connections for BENCH_SINGLE_SECONDS after
#           2 s of warm-up (`loadgen single`), until ClickHouse counts every accepted event;
# for the baseline and the candidate, in alternating order (A B, B A, ...) so drifting machine
# load hits both alike. Each process's CPU (utime + stime of /proc/<pid>/stat, from just before
# the load starts until the last event is stored) divided by the events stored gives CPU
# microseconds per event for ingestion, worker, Redis, ClickHouse and the load generator: much
# less sensitive to other work on the machine than a rate. The report shows medians and the
# candidate/baseline ratio of each figure.
#
# BENCH_SWEEP=1 adds, for the candidate only, runs with BENCH_SWEEP_SIZES events a request
# (BENCH_SWEEP_EVENTS_<size> events each, defaults below) and with the worker's batch size
# (WORKER_BATCH_SIZE) set to each of BENCH_SWEEP_WORKER_BATCHES at 1,000 events a request.
#
# Options (environment):
#   BENCH_ROUNDS=3  BENCH_EVENTS=2000000  BENCH_BATCH=1000  BENCH_BATCH_CONNECTIONS=4
#   BENCH_SINGLE_SECONDS=10  BENCH_CONNECTIONS=64  BENCH_SCENARIOS="batch single"
#   BENCH_BASELINE_REF=main  BENCH_BASELINE_DIR=target/bench-cpu/baseline-src
#   BENCH_BASELINE_TARGET=<BENCH_BASELINE_DIR>-target   the baseline's cargo target directory
#   BENCH_SWEEP=1  BENCH_SWEEP_SIZES="1 10 100 1000 10000"  BENCH_SWEEP_WORKER_BATCHES="1000 10000 20000 50000"
#   BENCH_CANDIDATE_SETTINGS="CLICKHOUSE_COMPRESSION=none"   settings of the candidate's services only
#                        (with BENCH_BASELINE_REF=HEAD: a setting against its default, same code)
#   BENCH_SKIP_BUILD=1   use the binaries built by the previous run (target/bench-cpu/bin)
#   RUST_LOG=info        the services' log level (info: one access-log line per request)
# Any other service setting passes through the environment to both builds.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench-cpu
cd "$REPO_ROOT"

ROUNDS="${BENCH_ROUNDS:-3}"
EVENTS="${BENCH_EVENTS:-2000000}"
BATCH="${BENCH_BATCH:-1000}"
BATCH_CONNECTIONS="${BENCH_BATCH_CONNECTIONS:-4}"
SINGLE_SECONDS="${BENCH_SINGLE_SECONDS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
SCENARIOS="${BENCH_SCENARIOS:-batch single}"
BASELINE_REF="${BENCH_BASELINE_REF:-main}"
SWEEP_SIZES="${BENCH_SWEEP_SIZES:-1 10 100 1000 10000}"
SWEEP_WORKER_BATCHES="${BENCH_SWEEP_WORKER_BATCHES:-1000 10000 20000 50000}"
CANDIDATE_SETTINGS="${BENCH_CANDIDATE_SETTINGS:-}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
WORK="$TARGET_DIR/bench-cpu"
BASELINE_DIR="${BENCH_BASELINE_DIR:-$WORK/baseline-src}"
BASELINE_TARGET="${BENCH_BASELINE_TARGET:-$BASELINE_DIR-target}"
RESULTS="$WORK/results"
BINS="$WORK/bin"
export RUST_LOG="${RUST_LOG:-info}"

STARTED_PIDS=()
cleanup() {
    stop_children "${STARTED_PIDS[@]}"
    "$INFRA_DIR/test-servers.sh" clean "$WORK/servers" >&2 || true
}
trap cleanup EXIT

rm -rf "$RESULTS" "$WORK/logs"
mkdir -p "$RESULTS" "$WORK/logs" "$BINS/baseline" "$BINS/candidate"
started_at=$SECONDS

# ---------------------------------------------------------------- builds
if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    baseline_commit="$(git rev-parse --verify "$BASELINE_REF^{commit}")"
    if [[ -d "$BASELINE_DIR/.git" || -f "$BASELINE_DIR/.git" ]]; then
        git -C "$BASELINE_DIR" checkout --quiet --detach "$baseline_commit"
    else
        git worktree add --detach "$BASELINE_DIR" "$baseline_commit" >&2
    fi
    log "building the baseline ($BASELINE_REF, $(git rev-parse --short "$baseline_commit"))"
    build_started=$SECONDS
    (cd "$BASELINE_DIR" && CARGO_TARGET_DIR="$BASELINE_TARGET" cargo build --release -p ingestion -p worker)
    log "baseline built in $((SECONDS - build_started)) s"
    cp "$BASELINE_TARGET/release/ingestion" "$BASELINE_TARGET/release/worker" "$BINS/baseline/"
    git -C "$BASELINE_DIR" log -1 --format='%h %s' >"$BINS/baseline/commit"
    log "building the candidate (this working tree)"
    build_started=$SECONDS
    cargo build --release -p ingestion -p worker -p loadgen
    log "candidate built in $((SECONDS - build_started)) s"
    cp "$TARGET_DIR/release/ingestion" "$TARGET_DIR/release/worker" "$TARGET_DIR/release/loadgen" "$BINS/candidate/"
    {
        git log -1 --format='%h %s'
        git diff --quiet HEAD -- . ':!docs' || echo "(with uncommitted changes)"
    } >"$BINS/candidate/commit"
fi
LOADGEN="$BINS/candidate/loadgen"
[[ -x "$LOADGEN" && -x "$BINS/baseline/worker" ]] || die "no binaries in $BINS: run without BENCH_SKIP_BUILD"

env_lines="$("$INFRA_DIR/test-servers.sh" start "$WORK/servers")"
eval "$env_lines"
log "redis at $TEST_REDIS_URL, clickhouse at $TEST_CLICKHOUSE_URL"
REDIS_PID="$(pid_from_file "$TEST_REDIS_PIDFILE")"
CLICKHOUSE_PID="$(pid_from_file "$TEST_CLICKHOUSE_PIDFILE")"

ch() {
    curl -sS --fail-with-body "$TEST_CLICKHOUSE_URL/?database=$1" --data-binary "$2"
}

# cpu_ticks PID: user + system clock ticks PID has used so far.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# start_services VARIANT NAME [SETTING=VALUE...]: a fresh worker and ingestion of VARIANT on free
# ports with their own queue key and database. Sets INGEST_URL, WORKER_PID, INGESTION_PID.
start_services() {
    local variant="$1" name="$2" grpc ingestion
    shift 2
    grpc="$(free_port)"
    ingestion="$(free_port "$grpc")"
    local common=(
        "REDIS_URL=$TEST_REDIS_URL" "REDIS_QUEUE_KEY=bench_$name"
        "CLICKHOUSE_URL=$TEST_CLICKHOUSE_URL" "CLICKHOUSE_DATABASE=bench_$name"
        # 10,000-event requests of the sweep are larger than the default 1 MiB
        "INGEST_MAX_BODY_BYTES=${INGEST_MAX_BODY_BYTES:-33554432}" "$@"
    )
    # From the work directory, so that no developer's ./.env is read.
    (cd "$WORK" && exec env "${common[@]}" WORKER_GRPC_LISTEN="127.0.0.1:$grpc" \
        WORKER_METRICS_ADDR=127.0.0.1:0 WORKER_ID="bench-$name" "$BINS/$variant/worker" \
        >"$WORK/logs/$name-worker.log" 2>&1) &
    WORKER_PID=$!
    STARTED_PIDS+=("$WORKER_PID")
    wait_tcp "$grpc" 60 "$WORKER_PID" || die "worker did not start: $(tail -5 "$WORK/logs/$name-worker.log")"
    (cd "$WORK" && exec env "${common[@]}" INGESTION_ADDR="127.0.0.1:$ingestion" OTLP_GRPC_ADDR=off \
        WORKER_GRPC_URL="http://127.0.0.1:$grpc" "$BINS/$variant/ingestion" \
        >"$WORK/logs/$name-ingestion.log" 2>&1) &
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

# measure VARIANT SCENARIO BATCH ROUND [SETTING=VALUE...]: one run against fresh services (round
# 0: a sweep run, with sweep_events events); appends one JSON line to RESULTS/runs.jsonl.
measure() {
    local variant="$1" scenario="$2" batch="$3" round="$4"
    shift 4
    local name="${variant:0:1}${scenario}${batch}r${round}$(tr -dc 'a-z0-9' <<<"${*:-}" | tail -c 12)"
    start_services "$variant" "$name" "$@"
    local before=(
        "$(cpu_ticks "$INGESTION_PID")" "$(cpu_ticks "$WORKER_PID")"
        "$(cpu_ticks "$REDIS_PID")" "$(cpu_ticks "$CLICKHOUSE_PID")"
    )
    local load output="$RESULTS/$name.json" TIMEFORMAT='%U %S' cpu
    load="$(cut -d' ' -f1 /proc/loadavg)"
    local arguments=(--url "$INGEST_URL" --clickhouse "$TEST_CLICKHOUSE_URL" --database "bench_$name")
    if [[ "$scenario" == single ]]; then
        arguments=(single "${arguments[@]}" --connections "$CONNECTIONS" --seconds "$SINGLE_SECONDS" --warmup-seconds 2)
    else
        local events="$EVENTS"
        [[ "$round" == 0 ]] && events="$(sweep_events "$batch")"
        arguments=(batch "${arguments[@]}" --connections "$BATCH_CONNECTIONS" --batch "$batch"
            --events "$events")
    fi
    { cpu="$( { time "$LOADGEN" "${arguments[@]}" >"$output"; } 2>&1)"; } ||
        die "loadgen ${arguments[*]} failed: $(cat "$output") $cpu"
    local after=(
        "$(cpu_ticks "$INGESTION_PID")" "$(cpu_ticks "$WORKER_PID")"
        "$(cpu_ticks "$REDIS_PID")" "$(cpu_ticks "$CLICKHOUSE_PID")"
    )
    local rss_ingestion rss_worker
    rss_ingestion="$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$INGESTION_PID/status")"
    rss_worker="$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$WORKER_PID/status")"
    stop_services
    ch default "DROP DATABASE IF EXISTS bench_$name" >/dev/null
    jq -c --arg variant "$variant" --arg scenario "$scenario" --argjson round "$round" \
        --arg settings "${*:-}" --argjson hz "$(getconf CLK_TCK)" --argjson load "$load" \
        --argjson ingestion "$((after[0] - before[0]))" --argjson worker "$((after[1] - before[1]))" \
        --argjson redis "$((after[2] - before[2]))" --argjson clickhouse "$((after[3] - before[3]))" \
        --argjson loadgen "$(awk '{ printf "%.3f", $(NF-1) + $NF }' <<<"$cpu")" \
        --argjson rss_ingestion "$rss_ingestion" --argjson rss_worker "$rss_worker" \
        '{variant: $variant, scenario: $scenario, round: $round, settings: $settings, load1: $load,
          rss_mb: {ingestion: $rss_ingestion, worker: $rss_worker},
          cpu_s: {ingestion: ($ingestion / $hz), worker: ($worker / $hz), redis: ($redis / $hz),
                  clickhouse: ($clickhouse / $hz), loadgen: $loadgen}} + .' \
        "$output" >>"$RESULTS/runs.jsonl"
    log "$variant $scenario${*:+ $*}: $(jq -r '"\(.accepted_including_warmup // .accepted) events, \(.stored_seconds | tostring | .[0:6]) s to stored"' "$output")"
}

# sweep_events BATCH: events of a batch run with BATCH events a request.
sweep_events() {
    local variable="BENCH_SWEEP_EVENTS_$1"
    if [[ -n "${!variable:-}" ]]; then
        echo "${!variable}"
    else
        case "$1" in
        1) echo 40000 ;;
        10) echo 200000 ;;
        100) echo 1000000 ;;
        *) echo "$EVENTS" ;;
        esac
    fi
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order=(baseline candidate); else order=(candidate baseline); fi
    for scenario in $SCENARIOS; do
        for variant in "${order[@]}"; do
            log "round $round/$ROUNDS: $scenario, $variant"
            if [[ "$variant" == candidate ]]; then
                # shellcheck disable=SC2086 # settings are words
                measure "$variant" "$scenario" "$BATCH" "$round" $CANDIDATE_SETTINGS
            else
                measure "$variant" "$scenario" "$BATCH" "$round"
            fi
        done
    done
done
if [[ -n "${BENCH_SWEEP:-}" ]]; then
    for size in $SWEEP_SIZES; do
        log "sweep: $size events a request"
        # shellcheck disable=SC2086 # settings are words
        measure candidate batch "$size" 0 $CANDIDATE_SETTINGS
    done
    for worker_batch in $SWEEP_WORKER_BATCHES; do
        log "sweep: worker batches of $worker_batch"
        # shellcheck disable=SC2086 # settings are words
        measure candidate batch "$BATCH" 0 $CANDIDATE_SETTINGS "WORKER_BATCH_SIZE=$worker_batch"
    done
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

{
    printf '{"nproc":%s,' "$(nproc)"
    printf '"cpu":"%s",' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/"/\\"/g')"
    printf '"clickhouse":"%s",' "$(ch default 'SELECT version()' | tr -d '\n')"
    printf '"redis":"%s",' "$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
    printf '"rustc":"%s",' "$(rustc --version | cut -d' ' -f2)"
    printf '"date":"%s",' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf '"baseline":"%s",' "$(sed 's/"/\\"/g' "$BINS/baseline/commit" | tr '\n' ' ')"
    printf '"candidate":"%s",' "$(sed 's/"/\\"/g' "$BINS/candidate/commit" | tr '\n' ' ')"
    printf '"rust_log":"%s",' "$RUST_LOG"
    printf '"candidate_settings":"%s",' "$CANDIDATE_SETTINGS"
    printf '"load_before":"%s","load_after":"%s",' "$load_before" "$load_after"
    printf '"events":%s,"batch":%s,"batch_connections":%s,"connections":%s,"single_seconds":%s,' \
        "$EVENTS" "$BATCH" "$BATCH_CONNECTIONS" "$CONNECTIONS" "$SINGLE_SECONDS"
    printf '"seconds":%s}\n' "$((SECONDS - started_at))"
} >"$RESULTS/machine.json"
python3 "$INFRA_DIR/bench_cpu_report.py" "$RESULTS" | tee "$WORK/report.md"
log "done in $((SECONDS - started_at)) s; report in $WORK/report.md, raw results in $RESULTS"
