#!/usr/bin/env bash
# Query benchmark: the query service (release build) against a throwaway ClickHouse holding N
# generated rows spread over the last 24 hours.
#
#   infra/bench-query.sh                 # 1M and 10M rows, 7 timed runs per request
#   infra/bench-query.sh 1000000         # only 1M rows
#   RUNS=11 infra/bench-query.sh 1000000 10000000
#   ONLY='histogram|count_over_time' infra/bench-query.sh   # only the requests whose name matches
#
# For each row count it starts throwaway servers (infra/test-servers.sh), creates the schema of
# migrations/, loads the rows with INSERT ... SELECT FROM numbers() (realistic services, levels,
# messages, metadata and trace ids; runs on ClickHouse 18.16), starts target/release/query and
# times each request with curl: one warm-up, then RUNS timed runs; it prints the median and the
# slowest in milliseconds as a markdown table, and the CPU time the query service and ClickHouse
# spent per request (utime + stime from /proc over the warm-up and the timed runs, divided by
# their number; ClickHouse's includes its background work meanwhile, such as merges), for the
# capacity model of docs/SCALING.md. Everything it started is stopped at the end.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench-query
cd "$REPO_ROOT"

RUNS="${RUNS:-7}"
ONLY="${ONLY:-}"
ROW_COUNTS=("$@")
[[ ${#ROW_COUNTS[@]} -gt 0 ]] || ROW_COUNTS=(1000000 10000000)
CHUNK_ROWS=1000000

work_dir="$(mktemp -d /tmp/bench-query.XXXXXX)"
query_pid=""
cleanup() {
    [[ -n "$query_pid" ]] && kill "$query_pid" 2>/dev/null && wait "$query_pid" 2>/dev/null
    "$INFRA_DIR/test-servers.sh" clean "$work_dir/servers" >&2 || true
    rm -rf "$work_dir"
}
trap cleanup EXIT

log "building the query service (release)"
cargo build --release -p query >&2

clickhouse() { # clickhouse SQL: runs SQL on the benchmark database, prints the answer
    curl -sS --fail-with-body "$TEST_CLICKHOUSE_URL/?database=bench" --data-binary "$1"
}

load_rows() { # load_rows COUNT: COUNT rows over the 24 hours before now
    local count="$1" now_ns start_ns step_ns chunk_start
    now_ns="$(($(date +%s) * 1000000000))"
    start_ns="$((now_ns - 86400 * 1000000000))"
    step_ns="$((86400 * 1000000000 / count))"
    for ((chunk_start = 0; chunk_start < count; chunk_start += CHUNK_ROWS)); do
        clickhouse "
INSERT INTO logs
SELECT
    ts AS timestamp,
    ts + 1000000 + cityHash64(number, 1) % 2000000000 AS observed_timestamp,
    concat(substring(ms_hex, 1, 8), '-', substring(ms_hex, 9, 4), '-7', substring(rnd, 1, 3),
           '-8', substring(rnd, 4, 3), '-', substring(rnd, 7, 12)) AS id,
    lower(hex(MD5(concat('trace', toString(intDiv(number, 4)))))) AS trace_id,
    if(number % 3 = 0, '', substring(rnd, 13, 16)) AS span_id,
    arrayElement(['auth-service', 'billing', 'checkout', 'search', 'gateway', 'inventory',
                  'notifications', 'payments'], cityHash64(number, 2) % 8 + 1) AS service,
    arrayElement(['TRACE', 'DEBUG', 'DEBUG', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO',
                  'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'WARN', 'WARN', 'ERROR', 'ERROR', 'FATAL'],
                 cityHash64(number, 3) % 20 + 1) AS level,
    concat(arrayElement(['request completed', 'DB connection failed', 'cache miss for key',
                         'payment declined by issuer', 'user logged in',
                         'timeout while calling upstream', 'retrying request', 'order created',
                         'disk usage high on volume', 'Connection refused by peer'],
                        cityHash64(number, 4) % 10 + 1),
           ' user_id=', toString(cityHash64(number, 5) % 100000),
           ' took ', toString(cityHash64(number, 6) % 5000), 'ms') AS message,
    ['host', 'region', 'request_id', 'user_id'] AS metadata_keys,
    [concat('host-', toString(cityHash64(number, 7) % 50)),
     arrayElement(['eu-west-1', 'us-east-1', 'ap-south-1'], cityHash64(number, 8) % 3 + 1),
     substring(rnd, 1, 16), toString(cityHash64(number, 5) % 100000)] AS metadata_values
FROM
(
    SELECT number, $start_ns + number * $step_ns AS ts,
           lower(hex(intDiv(ts, 1000000))) AS ms_hex, lower(hex(MD5(toString(number)))) AS rnd
    FROM numbers($chunk_start, $((count - chunk_start < CHUNK_ROWS ? count - chunk_start : CHUNK_ROWS)))
)"
    done
    # Merge each day into one part, as background merges do over time (18.16 merges only one
    # partition per OPTIMIZE without PARTITION).
    local partition
    for partition in $(clickhouse "SELECT DISTINCT partition FROM system.parts WHERE database = 'bench' AND table = 'logs' AND active"); do
        clickhouse "OPTIMIZE TABLE logs PARTITION '$partition' FINAL"
    done
}

median_ms() { # median_ms URL: prints "median slowest" of RUNS timed runs after one warm-up
    local url="$1" times=() i
    curl -sS -o /dev/null --fail "$url"
    for ((i = 0; i < RUNS; i++)); do
        times+=("$(curl -sS -o /dev/null --fail -w '%{time_total}' "$url")")
    done
    printf '%s\n' "${times[@]}" | sort -n |
        awk '{ t[NR] = $1 * 1000 } END { printf "%.0f %.0f\n", t[int((NR + 1) / 2)], t[NR] }'
}

cpu_ticks() { # cpu_ticks PID: the process's CPU time so far (utime + stime), in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

next_cursor() { # next_cursor URL: the next_cursor of the answer
    curl -sS --fail "$1" | sed -n 's/.*"next_cursor":"\([0-9a-f]*\)".*/\1/p'
}

rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

logql() { # logql QUERY STEP_SECONDS: the query_range path of a LogQL metric query over the 24 h
    printf '/loki/api/v1/query_range?query=%s&%s&step=%s' "$(urlencode "$1")" "$loki_day" "$2"
}

machine="$(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results=()
for rows in "${ROW_COUNTS[@]}"; do
    log "starting throwaway servers for $rows rows"
    env_lines="$("$INFRA_DIR/test-servers.sh" start "$work_dir/servers")"
    eval "$env_lines"
    curl -sS --fail "$TEST_CLICKHOUSE_URL" --data-binary "CREATE DATABASE IF NOT EXISTS bench" >/dev/null
    clickhouse "$(sed -e 's/--.*$//' migrations/001_create_logs.sql)" >/dev/null
    version="$(clickhouse "SELECT version()")"
    started="$(date +%s)"
    load_rows "$rows"
    log "loaded $(clickhouse "SELECT count() FROM logs") rows in $(($(date +%s) - started)) s"

    port="$(free_port "$TEST_CLICKHOUSE_HTTP_PORT" "$TEST_CLICKHOUSE_TCP_PORT")"
    QUERY_ADDR="127.0.0.1:$port" CLICKHOUSE_URL="$TEST_CLICKHOUSE_URL" CLICKHOUSE_DATABASE=bench \
        RUST_LOG=warn target/release/query >"$work_dir/query.log" 2>&1 &
    query_pid=$!
    base="http://127.0.0.1:$port"
    until curl -sf -o /dev/null "$base/health"; do sleep 0.1; done
    clickhouse_pid="$(cat "$TEST_CLICKHOUSE_PIDFILE")"
    tick_ms=$((1000 / $(getconf CLK_TCK)))

    now="$(date +%s)"
    day="from=$(rfc3339 $((now - 86400)))&to=$(rfc3339 "$now")"
    loki_day="start=$((now - 86400))&end=$now"
    cursor_1000="$(next_cursor "$base/logs?limit=100&offset=99800")"
    [[ -n "$cursor_1000" ]] || die "no cursor for page 1000"
    cases=(
        "text search, common word, limit 100|/logs?q=timeout&limit=100"
        "text search, two words, limit 100|/logs?q=payment%20declined&limit=100"
        "text search, no match (reads every message)|/logs?q=nowhere-to-be-found&limit=100"
        "metadata filter, 1 in 100,000 rows|/logs?metadata.user_id=4242&limit=100"
        "metadata filter, 1 in 3 rows|/logs?metadata.region=eu-west-1&limit=100"
        "service + level, limit 100|/logs?service=billing&level=ERROR&limit=100"
        "stats by level|/logs/stats?group_by=level"
        "stats by service, min_level=WARN|/logs/stats?group_by=service&min_level=WARN"
        "histogram over 24 h, 5m buckets|/logs/histogram?interval=5m&$day"
        "histogram over 24 h, 1h buckets by level|/logs/histogram?interval=1h&by=level&$day"
        "page 1 (limit 100)|/logs?limit=100"
        "page 1000 by cursor|/logs?limit=100&cursor=$cursor_1000"
        "page 1000 by offset|/logs?limit=100&offset=99900"
        "fields over 24 h (services, levels, metadata keys)|/logs/fields?$day"
        "field values: service, over 24 h|/logs/fields/service/values?$day"
        "field values: metadata.region (3 values), over 24 h|/logs/fields/metadata.region/values?$day"
        "field values: metadata.user_id (100,000 values), top 100|/logs/fields/metadata.user_id/values?$day"
        # Loki's query API over the same 24 h, each beside the GET /logs question it asks (above)
        "Loki log query {service=\"billing\", level=\"ERROR\"}, limit 100|/loki/api/v1/query_range?query=$(urlencode '{service="billing", level="ERROR"}')&limit=100&$loki_day"
        "Loki log query {region=\"eu-west-1\"}, limit 1000 (Grafana's default)|/loki/api/v1/query_range?query=$(urlencode '{region="eu-west-1"}')&limit=1000&$loki_day"
        "GET /logs metadata.region=eu-west-1, limit 1000 (the same question)|/logs?metadata.region=eu-west-1&limit=1000&$day"
        "Loki log query, line filter contains \"timeout\" (case-sensitive), limit 100|/loki/api/v1/query_range?query=$(urlencode '{service=~".+"} |= "timeout"')&limit=100&$loki_day"
        "Loki log query, line filter regex, no match (reads every message)|/loki/api/v1/query_range?query=$(urlencode '{service=~".+"} |~ "nowhere-[0-9]+"')&limit=100&$loki_day"
        "Loki labels over 24 h|/loki/api/v1/labels?$loki_day"
        "Loki label values: region, over 24 h|/loki/api/v1/label/region/values?$loki_day"
        "Loki index/stats {service=\"billing\"} over 24 h|/loki/api/v1/index/stats?query=$(urlencode '{service="billing"}')&$loki_day"
        "Loki detected_fields {service=\"billing\"} over 24 h (4 keys)|/loki/api/v1/detected_fields?query=$(urlencode '{service="billing"}')&$loki_day"
        # LogQL metric queries over the same 24 h, each beside the histogram question it asks (above)
        "Loki sum(count_over_time [5m]), step 5m (the 5m histogram's question)|$(logql 'sum(count_over_time({service=~".+"}[5m]))' 300)"
        "Loki sum by (level) (count_over_time [1h]), step 1h (the 1h histogram by level)|$(logql 'sum by (level) (count_over_time({service=~".+"}[1h]))' 3600)"
        "Loki sum by (level) (count_over_time [5m]), step 1m (sliding windows, 1,441 steps)|$(logql 'sum by (level) (count_over_time({service=~".+"}[5m]))' 60)"
        "Loki sum by (service) (rate [1m]), step 15s (5,761 steps)|$(logql 'sum by (service) (rate({service=~".+"}[1m]))' 15)"
        "Loki sum by (region) (bytes_over_time, line contains \"timeout\" [1h]), step 5m|$(logql 'sum by (region) (bytes_over_time({service=~".+"} |= "timeout" [1h]))' 300)"
    )
    for case in "${cases[@]}"; do
        name="${case%%|*}"
        path="${case#*|}"
        [[ -z "$ONLY" ]] || grep -qE -- "$ONLY" <<<"$name" || continue
        query_before="$(cpu_ticks "$query_pid")"
        clickhouse_before="$(cpu_ticks "$clickhouse_pid")"
        read -r median slowest < <(median_ms "$base$path")
        query_cpu="$(awk -v t="$(($(cpu_ticks "$query_pid") - query_before))" -v ms="$tick_ms" -v n="$((RUNS + 1))" 'BEGIN { printf "%.1f", t * ms / n }')"
        clickhouse_cpu="$(awk -v t="$(($(cpu_ticks "$clickhouse_pid") - clickhouse_before))" -v ms="$tick_ms" -v n="$((RUNS + 1))" 'BEGIN { printf "%.1f", t * ms / n }')"
        log "$rows rows: $name: median ${median} ms, CPU per request: query ${query_cpu} ms, ClickHouse ${clickhouse_cpu} ms"
        results+=("| $rows | $name | $median | $slowest | $query_cpu | $clickhouse_cpu |")
    done

    kill "$query_pid"
    wait "$query_pid" 2>/dev/null || true
    query_pid=""
    "$INFRA_DIR/test-servers.sh" clean "$work_dir/servers" >&2
done

echo "Machine: $machine; ClickHouse $version; $RUNS timed runs per request after one warm-up;"
echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD); load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| rows | request | median ms | slowest ms | query CPU ms/request | ClickHouse CPU ms/request |"
echo "|---:|---|---:|---:|---:|---:|"
printf '%s\n' "${results[@]}"
