#!/usr/bin/env bash
# The whole pipeline on this machine, on the default ports, without Docker.
#
#   infra/stack.sh up       install Redis/ClickHouse if missing, start them, build the services,
#                           start worker (it applies the migrations), then ingestion and query
#   infra/stack.sh down     stop the services, then ClickHouse and Redis (data is kept)
#   infra/stack.sh status   what runs, with health checks
#   infra/stack.sh logs [worker|ingestion|query|redis|clickhouse]...   tail -F the logs
#
# Everything lives in .stack/ at the repo root (git-ignored): NAME.pid and NAME.log for the
# services, redis/ and clickhouse/ for the servers' data, pid files and logs.
# Running it again is safe: whatever already runs (per its pid file) is left alone.
#
# Options (environment):
#   STACK_SKIP_SERVICES=1   only Redis + ClickHouse (no build, no services)
#   STACK_SKIP_BUILD=1      don't run cargo, use the binaries already in STACK_BIN_DIR
#   STACK_BIN_DIR           where ingestion/worker/query are (default target/release,
#                           or $CARGO_TARGET_DIR/release)
#   STACK_DIR               state directory (default .stack at the repo root)
#   STACK_BIND_HOST         address the services listen on (default 127.0.0.1; 0.0.0.0 = all)
#   STACK_REDIS_PORT=6379 STACK_CLICKHOUSE_HTTP_PORT=8123 STACK_CLICKHOUSE_TCP_PORT=9000
#   STACK_WORKER_GRPC_PORT=50051 STACK_INGESTION_PORT=8080 STACK_QUERY_PORT=8081
#   STACK_WORKER_METRICS_PORT=9091 STACK_OTLP_GRPC_PORT=4317
#   STACK_LOGS_FOLLOW=0     `logs` prints the last lines instead of following
#
# The services run from the repo root, so they also read ./.env. The addresses below are
# passed as environment variables and win over .env (REDIS_URL, CLICKHOUSE_URL,
# INGESTION_ADDR, OTLP_GRPC_ADDR, QUERY_ADDR, WORKER_GRPC_LISTEN, WORKER_GRPC_URL, WORKER_METRICS_ADDR); every
# other setting (CLICKHOUSE_DATABASE, REDIS_QUEUE_KEY, WORKER_BATCH_SIZE, RUST_LOG, ...) comes
# from the caller's environment, .env, or the services' defaults.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=stack
SELF="$INFRA_DIR/$(basename "${BASH_SOURCE[0]}")"

STACK_DIR="${STACK_DIR:-$REPO_ROOT/.stack}"
BIN_DIR="${STACK_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release}"
BIND_HOST="${STACK_BIND_HOST:-127.0.0.1}"
REDIS_PORT="${STACK_REDIS_PORT:-6379}"
CH_HTTP_PORT="${STACK_CLICKHOUSE_HTTP_PORT:-8123}"
CH_TCP_PORT="${STACK_CLICKHOUSE_TCP_PORT:-9000}"
GRPC_PORT="${STACK_WORKER_GRPC_PORT:-50051}"
METRICS_PORT="${STACK_WORKER_METRICS_PORT:-9091}"
INGESTION_PORT="${STACK_INGESTION_PORT:-8080}"
QUERY_PORT="${STACK_QUERY_PORT:-8081}"
OTLP_GRPC_PORT="${STACK_OTLP_GRPC_PORT:-4317}"
# The worker applies the migrations before it listens: give it longer than the others.
WORKER_START_TIMEOUT="${WORKER_START_TIMEOUT:-120}"

REDIS_DIR="$STACK_DIR/redis"
CH_DIR="$STACK_DIR/clickhouse"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
CH_PIDFILE="$CH_DIR/clickhouse.pid"
# In start order; `down` stops them in reverse (query and ingestion first: no new events; worker last: it
# gets the chance to flush what it already took from the queue).
SERVICES=(worker ingestion query)

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF" >&2
    exit 2
}

# The address a client uses to reach a service bound to BIND_HOST.
client_host() {
    if [[ "$BIND_HOST" == "0.0.0.0" || "$BIND_HOST" == "::" ]]; then
        printf '127.0.0.1'
    else
        printf '%s' "$BIND_HOST"
    fi
}

service_port() {
    case "$1" in
    worker) printf '%s' "$GRPC_PORT" ;;
    ingestion) printf '%s' "$INGESTION_PORT" ;;
    query) printf '%s' "$QUERY_PORT" ;;
    *) die "unknown service $1" ;;
    esac
}

service_env() {
    local host
    host="$(client_host)"
    printf '%s\n' \
        "REDIS_URL=redis://127.0.0.1:$REDIS_PORT" \
        "CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT" \
        "WORKER_GRPC_LISTEN=$BIND_HOST:$GRPC_PORT" \
        "WORKER_GRPC_URL=http://$host:$GRPC_PORT" \
        "WORKER_METRICS_ADDR=$BIND_HOST:$METRICS_PORT" \
        "INGESTION_ADDR=$BIND_HOST:$INGESTION_PORT" \
        "OTLP_GRPC_ADDR=$BIND_HOST:$OTLP_GRPC_PORT" \
        "QUERY_ADDR=$BIND_HOST:$QUERY_PORT"
}

start_servers() {
    ensure_packages
    mkdir -p "$STACK_DIR"
    start_redis "$REDIS_PORT" "$REDIS_DIR"
    start_clickhouse "$CH_HTTP_PORT" "$CH_TCP_PORT" "$CH_DIR"
}

build_services() {
    local name missing=()
    if [[ "${STACK_SKIP_BUILD:-0}" != "1" ]]; then
        command -v cargo >/dev/null 2>&1 ||
            die "cargo not found: install Rust (https://rustup.rs), or build elsewhere and set STACK_SKIP_BUILD=1 STACK_BIN_DIR=..."
        log "building the services: cargo build --release --bins"
        (cd "$REPO_ROOT" && cargo build --release --bins) >&2 || die "cargo build failed"
    fi
    for name in "${SERVICES[@]}"; do
        [[ -x "$BIN_DIR/$name" ]] || missing+=("$BIN_DIR/$name")
    done
    [[ ${#missing[@]} -eq 0 ]] || die "missing service binaries: ${missing[*]}"
}

# wait_service NAME PID: waits until the service answers (worker: its gRPC port accepts
# connections; ingestion/query: GET /health is 2xx). Dies with the log's tail otherwise.
wait_service() {
    local name="$1" pid="$2" port rc=0 timeout="$START_TIMEOUT" what
    port="$(service_port "$name")"
    if [[ "$name" == "worker" ]]; then
        timeout="$WORKER_START_TIMEOUT"
        what="gRPC port $(client_host):$port"
        wait_tcp "$port" "$timeout" "$pid" || rc=$?
    else
        what="http://$(client_host):$port/health"
        wait_http "$what" "$timeout" "" "$pid" || rc=$?
    fi
    case "$rc" in
    0)
        log "$name ready ($what, pid $pid)"
        return 0
        ;;
    2) log "$name exited before $what answered" ;;
    *) log "$name: no answer from $what within ${timeout}s" ;;
    esac
    show_tail "$STACK_DIR/$name.log"
    stop_pidfile "$STACK_DIR/$name.pid" "$name"
    die "$name failed to start (log: $STACK_DIR/$name.log)"
}

# start_service NAME: starts the binary in its own session (survives the terminal and
# Ctrl-C of this script), from the repo root, output appended to .stack/NAME.log.
start_service() {
    local name="$1" pidfile="$STACK_DIR/$1.pid" logfile="$STACK_DIR/$1.log" port pid
    if pid_alive "$pidfile" "$name"; then
        log "$name already running (pid $(pid_from_file "$pidfile"))"
        return 0
    fi
    rm -f "$pidfile"
    port="$(service_port "$name")"
    if port_in_use "$port"; then
        die "cannot start $name: port $port is already in use"
    fi
    local env_vars=()
    mapfile -t env_vars < <(service_env)
    log "starting $name ($BIN_DIR/$name, log $logfile)"
    printf '\n===== %s: starting %s =====\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$name" >>"$logfile"
    # A background job of a non-interactive shell is not a process group leader, so setsid
    # does not fork and $! is the service's own pid.
    (cd "$REPO_ROOT" && exec env "${env_vars[@]}" setsid "$BIN_DIR/$name" >>"$logfile" 2>&1 </dev/null) &
    pid=$!
    printf '%s\n' "$pid" >"$pidfile"
    wait_service "$name" "$pid"
}

print_urls() {
    local host
    host="$(client_host)"
    echo
    echo "Local stack (state and logs in $STACK_DIR):"
    if [[ "${STACK_SKIP_SERVICES:-0}" != "1" ]]; then
        echo "  Ingestion API  http://$host:$INGESTION_PORT"
        echo "                 Swagger UI http://$host:$INGESTION_PORT/docs   OpenAPI http://$host:$INGESTION_PORT/openapi.json"
        echo "  OTLP/gRPC      http://$host:$OTLP_GRPC_PORT (logs)"
        echo "  Query API      http://$host:$QUERY_PORT"
        echo "                 Swagger UI http://$host:$QUERY_PORT/docs   OpenAPI http://$host:$QUERY_PORT/openapi.json"
        echo "  Worker gRPC    $host:$GRPC_PORT (WORKER_GRPC_URL=http://$host:$GRPC_PORT)"
        echo "  Metrics        http://$host:$INGESTION_PORT/metrics  http://$host:$QUERY_PORT/metrics  http://$host:$METRICS_PORT/metrics (worker)"
    else
        echo "  (services not started: STACK_SKIP_SERVICES=1)"
    fi
    echo "  ClickHouse     http://127.0.0.1:$CH_HTTP_PORT (native tcp $CH_TCP_PORT): clickhouse-client --port $CH_TCP_PORT --database ${CLICKHOUSE_DATABASE:-observability}"
    echo "  Redis          redis://127.0.0.1:$REDIS_PORT: redis-cli -p $REDIS_PORT"
    echo "Status: $SELF status   Logs: $SELF logs   Stop: $SELF down"
}

cmd_up() {
    start_servers
    if [[ "${STACK_SKIP_SERVICES:-0}" != "1" ]]; then
        local name need_start=0
        for name in "${SERVICES[@]}"; do
            pid_alive "$STACK_DIR/$name.pid" "$name" || need_start=1
        done
        if [[ "$need_start" -eq 1 ]]; then
            build_services
        fi
        for name in "${SERVICES[@]}"; do
            start_service "$name"
        done
    fi
    print_urls
}

cmd_down() {
    local i name
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        name="${SERVICES[$i]}"
        stop_pidfile "$STACK_DIR/$name.pid" "$name"
    done
    stop_pidfile "$CH_PIDFILE" clickhouse-server
    stop_pidfile "$REDIS_PIDFILE" redis-server
    log "stack stopped (data kept in $STACK_DIR; delete it for a clean start)"
}

# status_line NAME PIDFILE PROCESS_NAME ADDRESS HEALTH_COMMAND...
status_line() {
    local name="$1" pidfile="$2" proc="$3" addr="$4" health
    shift 4
    if pid_alive "$pidfile" "$proc"; then
        if "$@" >/dev/null 2>&1; then health="healthy"; else health="NOT ANSWERING"; fi
        printf '%-11s running  pid %-8s %-28s %s\n' "$name" "$(pid_from_file "$pidfile")" "$addr" "$health"
    else
        printf '%-11s stopped\n' "$name"
    fi
}

cmd_status() {
    local host
    host="$(client_host)"
    status_line redis "$REDIS_PIDFILE" redis-server "127.0.0.1:$REDIS_PORT" \
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
    status_line clickhouse "$CH_PIDFILE" clickhouse-server "127.0.0.1:$CH_HTTP_PORT" \
        curl -sf --max-time 2 "http://127.0.0.1:$CH_HTTP_PORT/ping"
    status_line worker "$STACK_DIR/worker.pid" worker "$host:$GRPC_PORT" port_in_use "$GRPC_PORT"
    status_line ingestion "$STACK_DIR/ingestion.pid" ingestion "$host:$INGESTION_PORT" \
        curl -sf --max-time 2 "http://$host:$INGESTION_PORT/health"
    status_line query "$STACK_DIR/query.pid" query "$host:$QUERY_PORT" \
        curl -sf --max-time 2 "http://$host:$QUERY_PORT/health"
}

cmd_logs() {
    local names=("$@") name files=()
    if [[ ${#names[@]} -eq 0 ]]; then
        names=("${SERVICES[@]}")
    fi
    for name in "${names[@]}"; do
        case "$name" in
        worker | ingestion | query) files+=("$STACK_DIR/$name.log") ;;
        redis) files+=("$REDIS_DIR/redis.log") ;;
        clickhouse) files+=("$CH_DIR/log/clickhouse-server.log") ;;
        *) die "unknown log '$name' (worker, ingestion, query, redis, clickhouse)" ;;
        esac
    done
    local existing=() f
    for f in "${files[@]}"; do
        [[ -e "$f" ]] && existing+=("$f")
    done
    [[ ${#existing[@]} -gt 0 ]] || die "no logs yet in $STACK_DIR (run '$SELF up')"
    if [[ "${STACK_LOGS_FOLLOW:-1}" == "1" ]]; then
        exec tail -n "${STACK_LOG_LINES:-50}" -F "${existing[@]}"
    else
        tail -n "${STACK_LOG_LINES:-50}" "${existing[@]}"
    fi
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
logs)
    shift
    cmd_logs "$@"
    ;;
*) usage ;;
esac
