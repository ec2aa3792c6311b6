#!/usr/bin/env bash
# Throwaway Redis + ClickHouse for the integration tests, on free loopback ports.
#
#   env_lines="$(infra/test-servers.sh start "$dir")" && eval "$env_lines"
#                                                  # start (or reuse) both, print `export` lines
#                                                  # (a bare eval "$(...)" would ignore a failure)
#   infra/test-servers.sh stop "$dir"              # stop both, keep the data
#   infra/test-servers.sh clean "$dir"             # stop both, delete their data
#   infra/test-servers.sh env "$dir"               # print the `export` lines again
#   infra/test-servers.sh status "$dir"
#   infra/test-servers.sh stop-redis|start-redis|stop-clickhouse|start-clickhouse "$dir"
#       (fault injection: start-* restarts a stopped server on the same port with the same data)
#
# DIR defaults to .test-servers/ at the repo root (git-ignored). Data: DIR/redis/, DIR/clickhouse/;
# the chosen ports are kept in DIR/ports.env, so `start` after `stop` reuses them when free.
# Only the `export` lines go to stdout; progress and errors go to stderr.
#
# Exported (values shell-quoted where needed):
#   TEST_SERVERS_DIR, TEST_SERVERS_SCRIPT (this script, absolute)
#   TEST_REDIS_URL=redis://127.0.0.1:PORT, TEST_REDIS_PORT, TEST_REDIS_DIR, TEST_REDIS_PIDFILE,
#   TEST_REDIS_CONF, TEST_REDIS_START_CMD, TEST_REDIS_STOP_CMD
#   TEST_CLICKHOUSE_URL=http://127.0.0.1:PORT, TEST_CLICKHOUSE_HTTP_PORT, TEST_CLICKHOUSE_TCP_PORT,
#   TEST_CLICKHOUSE_DIR, TEST_CLICKHOUSE_PIDFILE, TEST_CLICKHOUSE_CONFIG,
#   TEST_CLICKHOUSE_START_CMD, TEST_CLICKHOUSE_STOP_CMD
# The *_START_CMD / *_STOP_CMD values are complete shell commands (run them with `sh -c`);
# START waits until the server answers. The raw server command lines, for tests that want to
# start the servers themselves, are in start_redis / start_clickhouse in infra/lib.sh:
#   redis-server $TEST_REDIS_CONF --port $TEST_REDIS_PORT --dir $TEST_REDIS_DIR --daemonize yes \
#     --pidfile $TEST_REDIS_PIDFILE --logfile $TEST_REDIS_DIR/redis.log
#   clickhouse-server --daemon --pid-file=$TEST_CLICKHOUSE_PIDFILE --config-file=$TEST_CLICKHOUSE_CONFIG \
#     -- --http_port=.. --tcp_port=.. --path=$TEST_CLICKHOUSE_DIR/data/ --tmp_path=$TEST_CLICKHOUSE_DIR/tmp/ \
#     --user_files_path=$TEST_CLICKHOUSE_DIR/user_files/ --format_schema_path=$TEST_CLICKHOUSE_DIR/format_schemas/ \
#     --logger.log=$TEST_CLICKHOUSE_DIR/log/clickhouse-server.log \
#     --logger.errorlog=$TEST_CLICKHOUSE_DIR/log/clickhouse-server.err.log
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=test-servers
SELF="$INFRA_DIR/$(basename "${BASH_SOURCE[0]}")"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF" >&2
    exit 2
}

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
dir_arg="${2:-$REPO_ROOT/.test-servers}"
if [[ -d "$dir_arg" ]]; then
    DIR="$(cd "$dir_arg" && pwd)"
elif [[ "$dir_arg" == /* ]]; then
    DIR="${dir_arg%/}"
else
    DIR="$PWD/${dir_arg%/}"
fi
PORTS_FILE="$DIR/ports.env"
REDIS_DIR="$DIR/redis"
CH_DIR="$DIR/clickhouse"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
CH_PIDFILE="$CH_DIR/clickhouse.pid"

REDIS_PORT=""
CLICKHOUSE_HTTP_PORT=""
CLICKHOUSE_TCP_PORT=""

load_ports() {
    if [[ -f "$PORTS_FILE" ]]; then
        REDIS_PORT="$(sed -n 's/^REDIS_PORT=\([0-9]*\)$/\1/p' "$PORTS_FILE")"
        CLICKHOUSE_HTTP_PORT="$(sed -n 's/^CLICKHOUSE_HTTP_PORT=\([0-9]*\)$/\1/p' "$PORTS_FILE")"
        CLICKHOUSE_TCP_PORT="$(sed -n 's/^CLICKHOUSE_TCP_PORT=\([0-9]*\)$/\1/p' "$PORTS_FILE")"
    fi
}

require_ports() {
    load_ports
    [[ -n "$REDIS_PORT" && -n "$CLICKHOUSE_HTTP_PORT" && -n "$CLICKHOUSE_TCP_PORT" ]] ||
        die "no ports recorded in $PORTS_FILE: run '$SELF start $DIR' first"
}

save_ports() {
    printf 'REDIS_PORT=%s\nCLICKHOUSE_HTTP_PORT=%s\nCLICKHOUSE_TCP_PORT=%s\n' \
        "$REDIS_PORT" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT" >"$PORTS_FILE"
}

# pick_port SAVED EXCLUDED...: SAVED if set and free, else a new free port.
pick_port() {
    local saved="$1"
    shift
    if [[ -n "$saved" && " $* " != *" $saved "* ]] && ! port_in_use "$saved"; then
        printf '%s\n' "$saved"
    else
        free_port "$@"
    fi
}

# shell_quote VALUE: VALUE as one shell word (unquoted when it is plain).
shell_quote() {
    if [[ "$1" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

print_env() {
    local var
    local -A env=(
        [TEST_SERVERS_DIR]="$DIR"
        [TEST_SERVERS_SCRIPT]="$SELF"
        [TEST_REDIS_URL]="redis://127.0.0.1:$REDIS_PORT"
        [TEST_REDIS_PORT]="$REDIS_PORT"
        [TEST_REDIS_DIR]="$REDIS_DIR"
        [TEST_REDIS_PIDFILE]="$REDIS_PIDFILE"
        [TEST_REDIS_CONF]="$REDIS_CONF"
        [TEST_REDIS_START_CMD]="$(shell_quote "$SELF") start-redis $(shell_quote "$DIR")"
        [TEST_REDIS_STOP_CMD]="$(shell_quote "$SELF") stop-redis $(shell_quote "$DIR")"
        [TEST_CLICKHOUSE_URL]="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT"
        [TEST_CLICKHOUSE_HTTP_PORT]="$CLICKHOUSE_HTTP_PORT"
        [TEST_CLICKHOUSE_TCP_PORT]="$CLICKHOUSE_TCP_PORT"
        [TEST_CLICKHOUSE_DIR]="$CH_DIR"
        [TEST_CLICKHOUSE_PIDFILE]="$CH_PIDFILE"
        [TEST_CLICKHOUSE_CONFIG]="$CLICKHOUSE_CONFIG"
        [TEST_CLICKHOUSE_START_CMD]="$(shell_quote "$SELF") start-clickhouse $(shell_quote "$DIR")"
        [TEST_CLICKHOUSE_STOP_CMD]="$(shell_quote "$SELF") stop-clickhouse $(shell_quote "$DIR")"
    )
    for var in $(printf '%s\n' "${!env[@]}" | sort); do
        printf 'export %s=%s\n' "$var" "$(shell_quote "${env[$var]}")"
    done
}

case "$cmd" in
start)
    ensure_packages
    mkdir -p "$DIR"
    load_ports
    if ! pid_alive "$REDIS_PIDFILE" redis-server; then
        REDIS_PORT="$(pick_port "$REDIS_PORT")"
    fi
    if ! pid_alive "$CH_PIDFILE" clickhouse-server; then
        CLICKHOUSE_HTTP_PORT="$(pick_port "$CLICKHOUSE_HTTP_PORT" "$REDIS_PORT")"
        CLICKHOUSE_TCP_PORT="$(pick_port "$CLICKHOUSE_TCP_PORT" "$REDIS_PORT" "$CLICKHOUSE_HTTP_PORT")"
    fi
    save_ports
    start_redis "$REDIS_PORT" "$REDIS_DIR"
    start_clickhouse "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT" "$CH_DIR"
    print_env
    ;;
env)
    require_ports
    print_env
    ;;
stop)
    stop_pidfile "$CH_PIDFILE" clickhouse-server
    stop_pidfile "$REDIS_PIDFILE" redis-server
    ;;
clean)
    stop_pidfile "$CH_PIDFILE" clickhouse-server
    stop_pidfile "$REDIS_PIDFILE" redis-server
    rm -rf "$CH_DIR" "$REDIS_DIR" "$PORTS_FILE"
    rmdir "$DIR" 2>/dev/null || true
    log "removed test server data in $DIR"
    ;;
status)
    load_ports
    if pid_alive "$REDIS_PIDFILE" redis-server; then
        echo "redis:      running, pid $(pid_from_file "$REDIS_PIDFILE"), redis://127.0.0.1:$REDIS_PORT"
    else
        echo "redis:      stopped"
    fi
    if pid_alive "$CH_PIDFILE" clickhouse-server; then
        echo "clickhouse: running, pid $(pid_from_file "$CH_PIDFILE"), http://127.0.0.1:$CLICKHOUSE_HTTP_PORT (tcp $CLICKHOUSE_TCP_PORT)"
    else
        echo "clickhouse: stopped"
    fi
    ;;
start-redis)
    require_ports
    start_redis "$REDIS_PORT" "$REDIS_DIR"
    ;;
stop-redis)
    stop_pidfile "$REDIS_PIDFILE" redis-server
    ;;
start-clickhouse)
    require_ports
    start_clickhouse "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT" "$CH_DIR"
    ;;
stop-clickhouse)
    stop_pidfile "$CH_PIDFILE" clickhouse-server
    ;;
*)
    usage
    ;;
esac
