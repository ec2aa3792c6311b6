#!/usr/bin/env bash
# Fuzzes both HTTP APIs from their own OpenAPI documents with schemathesis (PyPI), against the
# real binaries on a real Redis and ClickHouse: no answer may be a 5xx, and every answer must be
# one the document declares (status, content type, headers, body schema).
#
#   infra/schemathesis.sh                 # both runs: services open, then with API keys
#   SCHEMATHESIS_MAX_EXAMPLES=500 infra/schemathesis.sh   # search longer (default 50)
#
# infra/test.sh runs it after `cargo test --workspace`, so CI does. It uses the servers of
# TEST_REDIS_URL / TEST_CLICKHOUSE_URL when set (infra/test.sh starts them), else starts
# throwaway ones itself. Each run starts a worker (which applies the schema to a fresh database),
# the ingestion and the query service on free loopback ports, from a temporary directory (so no
# .env is read), and stops them afterwards. Service logs and schemathesis' output land in
# .test-servers/schemathesis-<pid>/, kept when a run fails.
#
# The two runs:
#   open   no keys configured: every operation answers, and the documents declare no security
#          scheme (checked before fuzzing: a service that requires nothing must not say it does).
#   keyed  INGEST_API_KEYS and QUERY_API_KEYS set; the documents must declare the API-key
#          schemes; schemathesis sends the key as `Authorization: Bearer <key>`, and the
#          `ignored_auth` check also proves that a request without it is refused.
#
# Checks, and why these:
#   not_a_server_error            the point: no input makes a service fail (5xx). The query
#                                 service's 503 store_unavailable and the request timeout's 503
#                                 cannot happen with healthy servers, so every 5xx is a bug.
#   status_code_conformance       every status is documented for its operation
#   content_type_conformance      ... with its documented media type
#   response_headers_conformance  ... with its documented headers (Retry-After, ...)
#   response_schema_conformance   ... and a body matching the documented schema
#   unsupported_method            a method a path does not take is 405 with an `Allow` header
#                                 naming the ones it takes (RFC 9110)
#   ignored_auth                  a declared security requirement is enforced
# Left out, on purpose:
#   positive_data_acceptance   expects every schema-valid request to be accepted (2xx), but
#                              validation goes beyond what JSON Schema can say: a level must name
#                              a level in any case, a service has no control characters, a
#                              timestamp is at most 24 h ahead, `from` comes before `to` and at
#                              most QUERY_MAX_RANGE_HOURS before it (or before now), a cursor is
#                              a token we issued. Such inputs get a documented 400 (the bounds are
#                              in the parameters' descriptions).
#   negative_data_rejection    expects every schema-invalid request to be refused, but the APIs
#                              are lenient by design where the schema is strict for the reader:
#                              unknown JSON fields and unknown query parameters are ignored, a
#                              timestamp may be text or a number of any unit, a batch may mix
#                              valid and invalid events (202 with per-event errors).
#   missing_required_header, use_after_free, ensure_resource_availability
#                              no required headers, and no resources created by one call and
#                              read by another (the stateful checks have nothing to link).
# `GET /logs/tail` is excluded: it is a server-sent event stream that never ends by itself
# (covered by the end-to-end tests in tests/tests/query.rs).
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=schemathesis
cd "$REPO_ROOT"

MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-50}"
work_dir="$REPO_ROOT/.test-servers/schemathesis-$$"
mkdir -p "$work_dir"
service_pids=()
own_servers=""
failed=0

stop_services() {
    local pid
    for pid in "${service_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${service_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    service_pids=()
}

cleanup() {
    stop_services
    if [[ -n "$own_servers" ]]; then
        "$INFRA_DIR/test-servers.sh" clean "$own_servers" >&2 || true
    fi
    if [[ "$failed" -eq 0 ]]; then
        rm -rf "$work_dir"
    else
        log "logs and reports kept in $work_dir"
    fi
}
trap cleanup EXIT

if [[ -z "${TEST_REDIS_URL:-}" || -z "${TEST_CLICKHOUSE_URL:-}" ]]; then
    own_servers="$work_dir/servers"
    env_lines="$("$INFRA_DIR/test-servers.sh" start "$own_servers")"
    eval "$env_lines"
fi
ensure_schemathesis
# The build of infra/test.sh: with `--workspace` the features are the same, so nothing is rebuilt.
cargo build --workspace --bins
bin_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug"

# start_service NAME LOG VAR=VALUE...: starts a binary with the given environment from an empty
# directory; its pid is appended to service_pids.
start_service() {
    local name="$1" log_file="$2"
    shift 2
    (cd "$work_dir" && exec env "$@" RUST_LOG=warn "$bin_dir/$name" >"$log_file" 2>&1) &
    service_pids+=("$!")
}

# start_stack RUN [INGEST_KEY QUERY_KEY]: the three services for one run; sets ingestion_url
# and query_url.
start_stack() {
    local run="$1" ingest_key="${2:-}" query_key="${3:-}"
    local worker_port metrics_port ingestion_port query_port
    worker_port="$(free_port)"
    metrics_port="$(free_port "$worker_port")"
    ingestion_port="$(free_port "$worker_port" "$metrics_port")"
    query_port="$(free_port "$worker_port" "$metrics_port" "$ingestion_port")"
    local common=(
        "CLICKHOUSE_URL=$TEST_CLICKHOUSE_URL"
        "CLICKHOUSE_DATABASE=schemathesis_$$_$run"
        "REDIS_QUEUE_KEY=schemathesis:$$:$run"
        "INGEST_API_KEYS=$ingest_key"
        "QUERY_API_KEYS=$query_key"
    )
    start_service worker "$work_dir/$run-worker.log" "${common[@]}" \
        "REDIS_URL=$TEST_REDIS_URL" "WORKER_GRPC_LISTEN=127.0.0.1:$worker_port" \
        "WORKER_METRICS_ADDR=127.0.0.1:$metrics_port" "WORKER_ID=schemathesis-$$-$run"
    # The worker opens its port once the schema exists.
    wait_tcp "$worker_port" 60 "${service_pids[-1]}" ||
        die "the worker did not start (see $work_dir/$run-worker.log)"
    start_service ingestion "$work_dir/$run-ingestion.log" "${common[@]}" \
        "REDIS_URL=$TEST_REDIS_URL" "INGESTION_ADDR=127.0.0.1:$ingestion_port" \
        "WORKER_GRPC_URL=http://127.0.0.1:$worker_port"
    start_service query "$work_dir/$run-query.log" "${common[@]}" \
        "QUERY_ADDR=127.0.0.1:$query_port"
    ingestion_url="http://127.0.0.1:$ingestion_port"
    query_url="http://127.0.0.1:$query_port"
    wait_http "$ingestion_url/health" 60 ||
        die "the ingestion service did not start (see $work_dir/$run-ingestion.log)"
    wait_http "$query_url/health" 60 ||
        die "the query service did not start (see $work_dir/$run-query.log)"
    # A few events, so that reads have something to return (and to check against the schema).
    curl -sf -X POST "$ingestion_url/ingest" -H "Content-Type: application/json" \
        ${ingest_key:+-H "Authorization: Bearer $ingest_key"} -o /dev/null -d '[
        {"service":"api","level":"INFO","message":"started","metadata":{"user_id":"42"}},
        {"service":"billing","level":"ERROR","message":"card declined","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
    ]' || die "could not ingest the seed events"
}

# fuzz RUN NAME URL [KEY]: schemathesis against URL's OpenAPI document.
fuzz() {
    local run="$1" name="$2" url="$3" key="${4:-}"
    local checks=not_a_server_error,status_code_conformance,content_type_conformance
    checks+=,response_headers_conformance,response_schema_conformance
    checks+=,unsupported_method,ignored_auth
    local auth=()
    if [[ -n "$key" ]]; then
        auth=(-H "Authorization: Bearer $key")
    fi
    log "$run run: $name ($url), at most $MAX_EXAMPLES examples per operation"
    local exclude=()
    if [[ "$name" == query ]]; then
        exclude=(--exclude-path /logs/tail)
    fi
    # From the work directory: schemathesis keeps a cache of crashes in ./.schemathesis.
    if ! (cd "$work_dir" && SCHEMATHESIS_HOOKS="$INFRA_DIR/schemathesis/hooks.py" \
        "$SCHEMATHESIS" --no-color run "$url/openapi.json" \
        --checks "$checks" \
        "${exclude[@]}" \
        --max-examples "$MAX_EXAMPLES" \
        --phases examples,coverage,fuzzing \
        --workers 2 \
        --request-timeout 20 \
        --seed 1 \
        "${auth[@]}" >"$work_dir/$run-$name.txt" 2>&1); then
        failed=1
        cat "$work_dir/$run-$name.txt" >&2
        log "FAILED: $run run, $name (full output above and in $work_dir/$run-$name.txt)"
    else
        tail -n 12 "$work_dir/$run-$name.txt" >&2
    fi
}

# expect_security RUN NAME URL yes|no: the document at URL declares API-key security schemes, or
# declares none.
expect_security() {
    local run="$1" name="$2" url="$3" expected="$4" declared=no
    if curl -sf "$url/openapi.json" | python3 -c \
        'import json, sys; sys.exit(0 if json.load(sys.stdin).get("components", {}).get("securitySchemes") else 1)'; then
        declared=yes
    fi
    if [[ "$declared" != "$expected" ]]; then
        failed=1
        log "FAILED: $run run, $name: security schemes declared: $declared, expected: $expected"
    fi
}

start_stack open
expect_security open ingestion "$ingestion_url" no
expect_security open query "$query_url" no
fuzz open ingestion "$ingestion_url"
fuzz open query "$query_url"
stop_services

# Keys: random, 32 hex characters each.
ingest_key="ingest-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
query_key="query-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
start_stack keyed "$ingest_key" "$query_key"
expect_security keyed ingestion "$ingestion_url" yes
expect_security keyed query "$query_url" yes
fuzz keyed ingestion "$ingestion_url" "$ingest_key"
fuzz keyed query "$query_url" "$query_key"
stop_services

if [[ "$failed" -ne 0 ]]; then
    die "schemathesis found problems"
fi
log "both APIs conform to their OpenAPI documents"
