"""Runs the ClickHouse adapter's read statements (one per line of STATEMENTS, `name<TAB>sql`) on
ClickHouse 18.16 (over HTTP at URL) and on current ClickHouse (chDB, in process) against the
same rows, and compares the answers. Exit status 1 when any statement fails or answers
differently. Usage: python check-current-clickhouse.py URL STATEMENTS MIGRATION"""

import re
import sys
import tempfile
import urllib.request

from chdb import session

URL, STATEMENTS, MIGRATION = sys.argv[1:4]
DATABASE = "current_clickhouse_check"

# 20,000 rows over 2026-05-05 (UTC), like infra/bench-query.sh generates them (a fifth with JSON
# messages, a fifth logfmt, for `| json` and `| logfmt` labels), plus three rows
# that the statements' filter (user 42, one trace, "db" and "connection failed") selects.
ROWS = """
INSERT INTO logs
SELECT ts, ts + 500000000,
    concat(substring(ms_hex, 1, 8), '-', substring(ms_hex, 9, 4), '-7', substring(rnd, 1, 3), '-8',
           substring(rnd, 4, 3), '-', substring(rnd, 7, 12)),
    lower(hex(MD5(concat('trace', toString(intDiv(number, 4)))))),
    if(number % 3 = 0, '', substring(rnd, 13, 16)),
    arrayElement(['auth', 'billing', 'checkout', 'search'], number % 4 + 1),
    arrayElement(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], number % 6 + 1),
    concat(arrayElement(['DB connection failed', 'timeout while calling upstream', 'ünïcödé ОШИБКА',
                         concat('{"status": ', toString(500 + number % 5), ', "path":"/api/',
                                toString(number % 3), '", "ok": false}'),
                         concat('level=error status=', toString(200 + number % 4), ' took=',
                                toString(number % 50), 'ms msg="db down"')],
                        number % 5 + 1), ' #', toString(number)),
    ['region', 'user_id'],
    [arrayElement(['eu', 'us'], number % 2 + 1), toString(number % 97)]
FROM (SELECT number, 1777939200000000000 + number * 4320000000 AS ts,
             lower(hex(intDiv(ts, 1000000))) AS ms_hex, lower(hex(MD5(toString(number)))) AS rnd
      FROM numbers(20000))
"""
CRAFTED = """
INSERT INTO logs VALUES
 (1777941000000000000, 1777941000500000000, '019df0a1-0000-7000-8000-000000000001',
  '4bf92f3577b34da6a3ce929d0e0e4736', '', 'auth', 'ERROR', 'DB connection failed hard',
  ['host', 'user_id'], ['db-primary', '42']),
 (1777941060000000000, 1777941060500000000, '019df0a1-0000-7000-8000-000000000002',
  '4bf92f3577b34da6a3ce929d0e0e4736', '', 'billing', 'WARN', 'db: Connection Failed', ['user_id'], ['42']),
 (1777941120000000000, 1777941120500000000, '019df0a1-0000-7000-8000-000000000003',
  '4bf92f3577b34da6a3ce929d0e0e4736', '', 'billing', 'INFO', 'db connection failed', ['user_id'], ['42'])
"""


def old(sql, database=DATABASE):
    url = f"{URL}/?database={database}" if database else URL
    with urllib.request.urlopen(urllib.request.Request(url, data=sql.encode())) as answer:
        return answer.read().decode()


def main():
    migration = re.sub(r"--.*", "", open(MIGRATION).read())
    old(f"DROP DATABASE IF EXISTS {DATABASE}", None)
    old(f"CREATE DATABASE {DATABASE}", None)
    current = session.Session(tempfile.mkdtemp())
    current.query(f"CREATE DATABASE {DATABASE}")
    current.query(f"USE {DATABASE}")
    for sql in (migration, ROWS, CRAFTED):
        old(sql)
        current.query(sql)
    print(f"ClickHouse {old('SELECT version()').strip()} and "
          f"{str(current.query('SELECT version()', 'TSV')).strip()} (chDB)")
    lines = open(STATEMENTS).read().splitlines()
    if not lines:
        print(f"no statements in {STATEMENTS}: the statement writer did not run")
        sys.exit(1)
    failures = 0
    for line in lines:
        name, sql = line.split("\t", 1)
        if name == "export":
            sql += " SETTINGS max_execution_time = 10, max_bytes_before_external_sort = 268435456"
        answers = []
        for run in (lambda: old(sql + " FORMAT TSV"), lambda: str(current.query(sql, "TSV"))):
            try:
                answers.append(("ok", run()))
            except Exception as error:  # noqa: BLE001 - any failure is reported
                answers.append(("failed", str(error)[:300]))
        (old_status, old_answer), (new_status, new_answer) = answers
        good = old_status == new_status == "ok" and old_answer == new_answer
        failures += not good
        print(f"{'same' if good else 'DIFFERENT':9} {name:24} {len(old_answer.splitlines()):6} rows")
        if not good:
            print(f"  18.16:   {old_status}: {old_answer[:300]!r}")
            print(f"  current: {new_status}: {new_answer[:300]!r}")
    old(f"DROP DATABASE IF EXISTS {DATABASE}", None)
    sys.exit(1 if failures else 0)


main()
