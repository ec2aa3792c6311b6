#!/bin/bash
# Applies migrations/*.sql when the ClickHouse container (docker compose) initialises a fresh
# data volume. Mounted as /docker-entrypoint-initdb.d/init-migrations.sh, with the repo's
# migrations/ mounted at /migrations. The image's entrypoint runs it against a temporary
# server on localhost, once (only while the data volume is empty).
#
# Creates ${CLICKHOUSE_DB:-observability}, then runs each file in name order with
# `clickhouse-client --multiquery --database`. The migrations are idempotent
# (IF NOT EXISTS), and the worker applies the same files again at start-up.
#
# The entrypoint executes this file when it is executable and sources it otherwise: the work
# runs in a subshell, so neither `set -euo pipefail` nor `exit` leaks into the entrypoint.
#
# Environment: CLICKHOUSE_DB, CLICKHOUSE_USER (default "default"), CLICKHOUSE_PASSWORD,
# MIGRATIONS_DIR (default /migrations), CLICKHOUSE_HOST (127.0.0.1), CLICKHOUSE_TCP_PORT (9000).

init_migrations() (
    set -euo pipefail
    export LC_ALL=C # name order = byte order
    local db="${CLICKHOUSE_DB:-observability}"
    local dir="${MIGRATIONS_DIR:-/migrations}"
    local client=(
        clickhouse-client
        --host "${CLICKHOUSE_HOST:-127.0.0.1}"
        --port "${CLICKHOUSE_TCP_PORT:-9000}"
        --user "${CLICKHOUSE_USER:-default}"
    )
    if [[ -n "${CLICKHOUSE_PASSWORD:-}" ]]; then
        client+=(--password "$CLICKHOUSE_PASSWORD")
    fi

    [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || {
        echo "init-migrations: invalid database name '$db'" >&2
        return 1
    }
    echo "init-migrations: CREATE DATABASE IF NOT EXISTS $db"
    "${client[@]}" --query "CREATE DATABASE IF NOT EXISTS $db"

    shopt -s nullglob
    local files=("$dir"/*.sql) f
    if [[ ${#files[@]} -eq 0 ]]; then
        echo "init-migrations: no *.sql in $dir, nothing to apply"
        return 0
    fi
    for f in "${files[@]}"; do
        echo "init-migrations: applying $f to $db"
        "${client[@]}" --database "$db" --multiquery <"$f"
    done
    echo "init-migrations: ${#files[@]} migration file(s) applied"
)

init_migrations
