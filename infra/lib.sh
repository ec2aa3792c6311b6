#!/usr/bin/env bash
# Shared helpers for infra/test-servers.sh and infra/stack.sh. Source it, don't run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every message goes to stderr, so that callers can keep stdout for machine-readable output
# (test-servers.sh prints `export` lines there). Linux only (reads /proc).

if [[ -n "${INFRA_LIB_LOADED:-}" ]]; then
    return 0
fi
INFRA_LIB_LOADED=1

# Globals for the scripts that source this file.
# shellcheck disable=SC2034
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034
REPO_ROOT="$(cd "$INFRA_DIR/.." && pwd)"
REDIS_CONF="$INFRA_DIR/redis/redis.conf"
CLICKHOUSE_CONFIG="$INFRA_DIR/clickhouse/config.xml"
# Seconds to wait for a server to answer after starting it.
START_TIMEOUT="${START_TIMEOUT:-30}"
# Seconds to wait for a process to exit after SIGTERM before sending SIGKILL.
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"

log() {
    printf '[%s] %s\n' "${LOG_TAG:-infra}" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# run_as_root CMD...: runs CMD directly as root, through sudo otherwise.
run_as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ensure_python_venv: installs python3 and python3-venv with apt-get when `python3 -m venv` cannot
# work (Debian ships the venv module's ensurepip in python3-venv). Used for the Python
# OpenTelemetry client of the OTLP end-to-end test.
ensure_python_venv() {
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "python3 with the venv module is missing and there is no apt-get: install python3-venv by hand"
    log "python3 cannot create virtualenvs: installing python3 python3-venv with apt-get"
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv >&2
}

# ensure_otlp_python: a virtualenv with the pinned tests/otlp/requirements.txt (the OpenTelemetry
# Python SDK, its OTLP/HTTP exporter and the OTLP protobuf classes) in .test-servers/venv
# (git-ignored, kept between runs, rebuilt when that file changes); exports its interpreter as
# OTLP_TEST_PYTHON. For the OTLP end-to-end test (tests/tests/otlp.rs) and infra/bench-otlp.sh.
ensure_otlp_python() {
    local venv="$REPO_ROOT/.test-servers/venv"
    ensure_pinned_venv "$venv" "$REPO_ROOT/tests/otlp/requirements.txt" "the OpenTelemetry Python SDK"
    export OTLP_TEST_PYTHON="$venv/bin/python"
}

# ensure_loki_clients: the Loki push clients of tests/tests/loki_push.rs, which nobody on the team
# wrote: npm winston + winston-loki (+ snappy, for protobuf), pinned by tests/loki/package.json
# and package-lock.json and installed with `npm ci` into tests/loki/node_modules (git-ignored,
# reinstalled when the lock file changes); PyPI python-logging-loki pinned by
# tests/loki/requirements.txt in .test-servers/loki-venv. Installs nodejs and npm with apt-get
# when missing. Exports LOKI_TEST_NODE_DIR (the folder with node_modules) and LOKI_TEST_PYTHON.
ensure_loki_clients() {
    local dir="$REPO_ROOT/tests/loki"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || die "node and npm are missing and there is no apt-get"
        log "installing nodejs and npm with apt-get (the Loki push test runs winston-loki)"
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            nodejs npm >&2
    fi
    if [[ ! -d "$dir/node_modules" ]] || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.copy.json"; then
        log "installing winston-loki into $dir/node_modules (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
        cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.copy.json"
    fi
    export LOKI_TEST_NODE_DIR="$dir"
    local venv="$REPO_ROOT/.test-servers/loki-venv"
    ensure_pinned_venv "$venv" "$dir/requirements.txt" "python-logging-loki"
    export LOKI_TEST_PYTHON="$venv/bin/python"
}

# ensure_schemathesis: a virtualenv with the pinned infra/schemathesis/requirements.txt (the
# OpenAPI fuzzer) in .test-servers/schemathesis-venv, kept and rebuilt like the OTLP one;
# exports its command as SCHEMATHESIS. For infra/schemathesis.sh.
ensure_schemathesis() {
    local venv="$REPO_ROOT/.test-servers/schemathesis-venv"
    ensure_pinned_venv "$venv" "$INFRA_DIR/schemathesis/requirements.txt" "schemathesis"
    export SCHEMATHESIS="$venv/bin/schemathesis"
}

# ensure_browser_test: what the log explorer's browser test (tests/tests/explorer.rs) needs:
# Debian's chromium (installed with apt-get when /usr/bin/chromium is missing), Node.js and npm
# (likewise), and the pinned playwright-core of tests/browser/package-lock.json, installed with
# `npm ci` into tests/browser/node_modules (git-ignored; reinstalled when the lock file changed).
# Exports EXPLORER_TEST_CHROMIUM, EXPLORER_TEST_NODE and EXPLORER_TEST_SCRIPT.
ensure_browser_test() {
    local dir="$REPO_ROOT/tests/browser" missing=()
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    if [[ ${#missing[@]} -gt 0 ]]; then
        command -v apt-get >/dev/null 2>&1 ||
            die "missing ${missing[*]} and no apt-get: install chromium, nodejs and npm by hand"
        log "missing ${missing[*]}: installing them with apt-get"
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" fonts-dejavu-core >&2
    fi
    if [[ ! -d "$dir/node_modules/playwright-core" ]] ||
        ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.copy.json"; then
        log "installing playwright-core (tests/browser/package-lock.json) with npm ci"
        # --ignore-scripts: nothing to download at install time; the test uses Debian's chromium.
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >&2)
        cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.copy.json"
    fi
    export EXPLORER_TEST_CHROMIUM=/usr/bin/chromium
    EXPLORER_TEST_NODE="$(command -v node)"
    export EXPLORER_TEST_NODE
    export EXPLORER_TEST_SCRIPT="$dir/explorer.mjs"
}

# ensure_elasticsearch_python: a virtualenv with the pinned tests/elasticsearch/requirements.txt
# (the official Elasticsearch Python client) in .test-servers/es-venv, kept and rebuilt like the
# OTLP one; exports its interpreter as ES_TEST_PYTHON. For tests/tests/elasticsearch.rs.
ensure_elasticsearch_python() {
    local venv="$REPO_ROOT/.test-servers/es-venv"
    ensure_pinned_venv "$venv" "$REPO_ROOT/tests/elasticsearch/requirements.txt" "the Elasticsearch Python client"
    export ES_TEST_PYTHON="$venv/bin/python"
}

# ensure_syslog_clients: rsyslog (with omelasticsearch, from rsyslog-elasticsearch) and
# util-linux's `logger` (bsdutils), installed with apt-get when missing; the system rsyslog
# service the package would start is kept from starting. Exports RSYSLOGD and SYSLOG_LOGGER for
# tests/tests/syslog.rs and tests/tests/elasticsearch.rs, which run rsyslogd in the foreground
# with configurations of their own (no system socket, loopback ports).
ensure_syslog_clients() {
    local rsyslogd=/usr/sbin/rsyslogd
    local omelasticsearch
    omelasticsearch="$(ls /usr/lib/*/rsyslog/omelasticsearch.so 2>/dev/null | head -n 1 || true)"
    if [[ ! -x "$rsyslogd" || -z "$omelasticsearch" ]] || ! command -v logger >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 ||
            die "rsyslog, rsyslog-elasticsearch or logger is missing and there is no apt-get: install them by hand"
        log "installing rsyslog rsyslog-elasticsearch bsdutils with apt-get"
        local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
        if [[ ! -e "$policy" ]]; then
            printf '#!/bin/sh\nexit 101\n' | run_as_root tee "$policy" >/dev/null
            run_as_root chmod 755 "$policy"
            own_policy=1
        fi
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || rc=$?
        if [[ "$rc" -eq 0 ]]; then
            run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                rsyslog rsyslog-elasticsearch bsdutils >&2 || rc=$?
        fi
        if [[ "$own_policy" -eq 1 ]]; then
            run_as_root rm -f "$policy"
        fi
        [[ "$rc" -eq 0 ]] || die "apt-get install rsyslog rsyslog-elasticsearch bsdutils failed (exit $rc)"
    fi
    export RSYSLOGD="$rsyslogd"
    SYSLOG_LOGGER="$(command -v logger)"
    export SYSLOG_LOGGER
}

# ensure_logql_grammar: Grafana's LogQL grammar (npm @grafana/lezer-logql, pinned in
# tests/logql/package-lock.json) with its check script in .test-servers/logql-grammar, installed
# with `npm ci` when missing or when the lock file changed (node and npm from apt when missing);
# exports the folder as LOGQL_GRAMMAR_DIR for adapters/logql/tests/corpus.rs.
ensure_logql_grammar() {
    local dir="$REPO_ROOT/.test-servers/logql-grammar" source="$REPO_ROOT/tests/logql"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        log "installing nodejs and npm"
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            nodejs npm >&2
    fi
    if [[ ! -d "$dir/node_modules" ]] || ! cmp -s "$source/package-lock.json" "$dir/package-lock.json"; then
        log "installing @grafana/lezer-logql into $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$source/package.json" "$source/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    fi
    cp "$source/check.mjs" "$dir/"
    export LOGQL_GRAMMAR_DIR="$dir"
}

# ensure_pinned_venv VENV REQUIREMENTS WHAT: a virtualenv in VENV with the packages of
# REQUIREMENTS, (re)built from PyPI when missing or when that file changed since.
ensure_pinned_venv() {
    local venv="$1" requirements="$2" what="$3"
    ensure_python_venv
    if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
        log "installing $what into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
        cp "$requirements" "$venv/requirements.txt"
    fi
}

# apt_install PACKAGE...: installs Debian packages with apt-get (after an update), keeping the
# services they would start from starting (they would take the default ports).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing $*: install it by hand (no apt-get here)"
    log "installing $* with apt-get"
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e "$policy" ]]; then
        # Exit code 101 = "action forbidden": the packages' services are not started.
        printf '#!/bin/sh\nexit 101\n' | run_as_root tee "$policy" >/dev/null
        run_as_root chmod 755 "$policy"
        own_policy=1
    fi
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || rc=$?
    if [[ "$rc" -eq 0 ]]; then
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "$@" >&2 || rc=$?
    fi
    if [[ "$own_policy" -eq 1 ]]; then
        run_as_root rm -f "$policy"
    fi
    [[ "$rc" -eq 0 ]] || die "apt-get install $* failed (exit $rc)"
}

# ensure_packages: installs redis-server, clickhouse-server and clickhouse-client (and curl)
# with apt-get when one of their binaries is missing. Servers that the packages would start as
# system services are kept from starting (they would take the default ports).
ensure_packages() {
    local missing=() bin
    for bin in redis-server redis-cli clickhouse-server clickhouse-client curl; do
        if ! command -v "$bin" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$bin" ]]; then
            missing+=("$bin")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and no apt-get: install redis-server, clickhouse-server, clickhouse-client and curl by hand"
    log "missing ${missing[*]}: installing redis-server clickhouse-server clickhouse-client curl with apt-get"
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e "$policy" ]]; then
        # Exit code 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke then don't
        # start the freshly installed services.
        printf '#!/bin/sh\nexit 101\n' | run_as_root tee "$policy" >/dev/null
        run_as_root chmod 755 "$policy"
        own_policy=1
    fi
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || rc=$?
    if [[ "$rc" -eq 0 ]]; then
        run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            redis-server clickhouse-server clickhouse-client curl ca-certificates >&2 || rc=$?
    fi
    if [[ "$own_policy" -eq 1 ]]; then
        run_as_root rm -f "$policy"
    fi
    [[ "$rc" -eq 0 ]] ||
        die "apt-get failed (exit $rc). Where the distribution has no clickhouse-server package, install ClickHouse from its official packages."
}

# clickhouse_server_bin: the server binary (Debian puts it in /usr/sbin, not always on PATH).
clickhouse_server_bin() {
    if command -v clickhouse-server >/dev/null 2>&1; then
        command -v clickhouse-server
    elif [[ -x /usr/sbin/clickhouse-server ]]; then
        printf '%s\n' /usr/sbin/clickhouse-server
    else
        die "clickhouse-server not found (run ensure_packages)"
    fi
}

# port_in_use PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port [EXCLUDED_PORT...]: prints a TCP port that is free on 127.0.0.1 right now
# (asks the kernel with python3 when available, else probes random ports).
free_port() {
    local port tries
    for tries in $(seq 1 100); do
        if command -v python3 >/dev/null 2>&1; then
            port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')"
        else
            port=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
        fi
        if [[ " $* " == *" $port "* ]] || port_in_use "$port"; then
            continue
        fi
        printf '%s\n' "$port"
        return 0
    done
    die "no free port found after $tries tries"
}

# pid_from_file FILE: prints the pid stored in FILE; fails if there is none.
pid_from_file() {
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(tr -dc '0-9' <"$1")"
    [[ -n "$pid" ]] || return 1
    printf '%s\n' "$pid"
}

# cpu_seconds PID: the user + system CPU seconds PID has used so far (0 once it is gone).
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# stop_children PID...: SIGTERM to each of this shell's children PID, then waits for them all
# (the benchmarks' services stop cleanly on SIGTERM).
stop_children() {
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        wait "$pid" 2>/dev/null || true
    done
}

# proc_running PID: true while PID exists and is not a zombie.
proc_running() {
    local stat state
    [[ -r "/proc/$1/stat" ]] || return 1
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    state="${stat##*) }"
    state="${state%% *}"
    [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# pid_alive FILE [NAME]: true when FILE holds the pid of a running process whose command line
# contains NAME (guards against a stale pid file whose pid was reused).
pid_alive() {
    local pid cmdline
    pid="$(pid_from_file "$1")" || return 1
    proc_running "$pid" || return 1
    if [[ -n "${2:-}" ]]; then
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
        [[ "$cmdline" == *"$2"* ]] || return 1
    fi
}

# stop_pidfile FILE [NAME]: SIGTERM the process in FILE, wait up to STOP_TIMEOUT s, then SIGKILL.
# Removes FILE. Does nothing when FILE is missing or stale.
stop_pidfile() {
    local file="$1" name="${2:-}" pid i deadline
    if ! pid_alive "$file" "$name"; then
        rm -f "$file"
        return 0
    fi
    pid="$(pid_from_file "$file")"
    log "stopping ${name:-pid} $pid ($file)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while ((SECONDS < deadline)); do
        proc_running "$pid" || break
        sleep 0.1
    done
    if proc_running "$pid"; then
        log "pid $pid still running after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            proc_running "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$file"
}

# wait_http URL [TIMEOUT_S] [EXPECTED_BODY_SUBSTRING] [PID]: waits until URL answers 2xx
# (and its body contains the substring, if given). Returns 1 on timeout, 2 as soon as PID
# (if given) has exited.
wait_http() {
    local url="$1" timeout="${2:-$START_TIMEOUT}" expect="${3:-}" pid="${4:-}" body
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if body="$(curl -sf --max-time 2 "$url" 2>/dev/null)" && [[ -z "$expect" || "$body" == *"$expect"* ]]; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! proc_running "$pid"; then
            return 2
        fi
        sleep 0.2
    done
    return 1
}

# wait_tcp PORT [TIMEOUT_S] [PID]: waits until 127.0.0.1:PORT accepts connections.
# Same return codes as wait_http.
wait_tcp() {
    local port="$1" timeout="${2:-$START_TIMEOUT}" pid="${3:-}"
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if port_in_use "$port"; then
            return 0
        fi
        if [[ -n "$pid" ]] && ! proc_running "$pid"; then
            return 2
        fi
        sleep 0.2
    done
    return 1
}

# show_tail FILE...: prints the last lines of each existing, non-empty FILE to stderr.
show_tail() {
    local f
    for f in "$@"; do
        if [[ -s "$f" ]]; then
            printf -- '----- last lines of %s -----\n' "$f" >&2
            tail -n 20 "$f" >&2
        fi
    done
}

# start_redis PORT DIR: Redis with infra/redis/redis.conf (append-only), data, pid file
# (DIR/redis.pid) and log (DIR/redis.log) in DIR. No-op when DIR's Redis already runs.
start_redis() {
    local port="$1" dir pidfile logfile pid rc=0
    mkdir -p "$2"
    dir="$(cd "$2" && pwd)"
    pidfile="$dir/redis.pid"
    logfile="$dir/redis.log"
    if pid_alive "$pidfile" redis-server; then
        log "redis already running (pid $(pid_from_file "$pidfile"), $dir)"
        return 0
    fi
    rm -f "$pidfile"
    if port_in_use "$port"; then
        die "cannot start redis: port $port is already in use (another redis-server, e.g. the system service?)"
    fi
    log "starting redis on 127.0.0.1:$port (data in $dir)"
    redis-server "$REDIS_CONF" --port "$port" --dir "$dir" \
        --daemonize yes --pidfile "$pidfile" --logfile "$logfile" || rc=$?
    if [[ "$rc" -ne 0 ]]; then
        show_tail "$logfile"
        die "redis-server exited with $rc"
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
            pid="$(pid_from_file "$pidfile" || echo '?')"
            log "redis ready on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        sleep 0.2
    done
    show_tail "$logfile"
    die "redis did not answer PING on 127.0.0.1:$port within ${START_TIMEOUT}s"
}

# start_clickhouse HTTP_PORT TCP_PORT DIR: ClickHouse with infra/clickhouse/config.xml as a
# daemon; data in DIR/data/, logs in DIR/log/, pid file DIR/clickhouse.pid. Waits until
# /ping answers "Ok.". No-op when DIR's ClickHouse already runs.
start_clickhouse() {
    local http_port="$1" tcp_port="$2" dir pidfile server rc=0
    mkdir -p "$3"
    dir="$(cd "$3" && pwd)"
    pidfile="$dir/clickhouse.pid"
    if pid_alive "$pidfile" clickhouse-server; then
        log "clickhouse already running (pid $(pid_from_file "$pidfile"), $dir)"
        return 0
    fi
    rm -f "$pidfile"
    local port
    for port in "$http_port" "$tcp_port"; do
        if port_in_use "$port"; then
            die "cannot start clickhouse: port $port is already in use (another clickhouse-server, e.g. the system service?)"
        fi
    done
    server="$(clickhouse_server_bin)"
    # The daemon exits silently when its log directory is missing, and it changes to / before
    # reading the config, so every path must exist and be absolute.
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
    local args=(
        --config-file="$CLICKHOUSE_CONFIG"
        --
        --http_port="$http_port"
        --tcp_port="$tcp_port"
        --path="$dir/data/"
        --tmp_path="$dir/tmp/"
        --user_files_path="$dir/user_files/"
        --format_schema_path="$dir/format_schemas/"
        --logger.log="$dir/log/clickhouse-server.log"
        --logger.errorlog="$dir/log/clickhouse-server.err.log"
    )
    log "starting clickhouse on 127.0.0.1:$http_port (http) / $tcp_port (tcp) (data in $dir)"
    "$server" --daemon --pid-file="$pidfile" "${args[@]}" || rc=$?
    if [[ "$rc" -eq 0 ]] && wait_http "http://127.0.0.1:$http_port/ping" "$START_TIMEOUT" "Ok."; then
        log "clickhouse ready on http://127.0.0.1:$http_port (pid $(pid_from_file "$pidfile" || echo '?'))"
        return 0
    fi
    log "clickhouse did not answer http://127.0.0.1:$http_port/ping with Ok. within ${START_TIMEOUT}s (exit $rc)"
    show_tail "$dir/log/clickhouse-server.err.log" "$dir/log/stderr.log"
    if ! pid_alive "$pidfile" clickhouse-server && [[ ! -s "$dir/log/clickhouse-server.err.log" ]]; then
        # Errors before the logger is up (e.g. a broken config file) are lost in daemon mode:
        # run it once in the foreground to show them.
        log "no error logged; foreground run for diagnosis:"
        timeout 10 "$server" "${args[@]}" 2>&1 | tail -n 20 >&2 || true
    fi
    stop_pidfile "$pidfile" clickhouse-server
    die "clickhouse failed to start"
}

# ensure_nginx: nginx for the fault suite's doubled stacks (two processes of each service, the
# reverse-proxy example infra/nginx/logs-pipeline.conf in front), from apt when missing; exports
# its path as NGINX_BIN (not NGINX: nginx reads that as inherited sockets). Its service is kept
# from starting (it would take port 80).
ensure_nginx() {
    local nginx=/usr/sbin/nginx
    if [[ ! -x "$nginx" ]]; then
        apt_install nginx
    fi
    export NGINX_BIN="$nginx"
}
