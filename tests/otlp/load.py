#!/usr/bin/env python3
"""OTLP logs throughput: posts protobuf ExportLogsServiceRequests to POST /v1/logs (OTLP/HTTP), or
with `--grpc` calls LogsService/Export (OTLP/gRPC, grpcio) with the same pre-encoded messages.

The bodies are built once, before the clock starts, with the official OTLP protobuf classes
(PyPI `opentelemetry-proto`, installed with tests/otlp/requirements.txt): `--bodies` distinct
requests of `--batch` log records each, shaped like an SDK's (`--shape sdk`: resource with
service.name and telemetry.sdk.*, a scope, records with time, severity, a string body, four
attributes, trace and span ids) or like the events of `loadgen batch` (`--shape lean`).
`--connections` threads, each on its own keep-alive connection (gRPC: its own channel), post them
until `--events` records are sent; a 429 or 503 (gRPC: RESOURCE_EXHAUSTED, UNAVAILABLE) is retried
after 200 ms, as a well-behaved exporter would. With
`--clickhouse` and `--database` it then waits until the logs table counts every accepted record:
the end-to-end rate. It prints one JSON object.

    python load.py --url http://127.0.0.1:8080/v1/logs --events 1000000 --batch 1000 \\
        --connections 4 --clickhouse http://127.0.0.1:8123 --database observability
    python load.py --grpc 127.0.0.1:4317 --events 1000000 ...
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request

import grpc

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

THROTTLE_PAUSE_SECONDS = 0.2
SEVERITIES = [(9, "INFO"), (9, "INFO"), (5, "DEBUG"), (13, "WARN"), (17, "ERROR")]


def attribute(key, value):
    if isinstance(value, bool):
        any_value = AnyValue(bool_value=value)
    elif isinstance(value, int):
        any_value = AnyValue(int_value=value)
    elif isinstance(value, float):
        any_value = AnyValue(double_value=value)
    else:
        any_value = AnyValue(string_value=value)
    return KeyValue(key=key, value=any_value)


def build_body(index, batch, service, shape):
    """One serialized ExportLogsServiceRequest of `batch` records, shaped like an SDK's (`sdk`) or
    like the `POST /ingest` events of `loadgen batch` (`lean`: two attributes, no ids, no time)."""
    now = time.time_ns()
    records = []
    for position in range(batch):
        sequence = index * batch + position
        number, text = SEVERITIES[sequence % len(SEVERITIES)]
        if shape == "lean":
            records.append(
                LogRecord(
                    severity_number=number,
                    severity_text=text,
                    body=AnyValue(
                        string_value=f"request {sequence} handled in {sequence % 900 + 1} ms "
                        f"by worker thread {sequence % 16}"
                    ),
                    attributes=[
                        attribute("host", f"web-{sequence % 8}"),
                        attribute("request_id", f"{sequence:016x}"),
                    ],
                )
            )
            continue
        records.append(
            LogRecord(
                time_unix_nano=now + position * 1000,
                observed_time_unix_nano=now + position * 1000,
                severity_number=number,
                severity_text=text,
                body=AnyValue(string_value=f"request {sequence} handled in {sequence % 900 + 1} ms"),
                attributes=[
                    attribute("http.route", "/api/checkout"),
                    attribute("http.response.status_code", 200 if number < 13 else 503),
                    attribute("user_id", f"u-{sequence % 10_000}"),
                    attribute("duration_ms", (sequence % 900 + 1) / 3),
                ],
                trace_id=os.urandom(16),
                span_id=os.urandom(8),
            )
        )
    if shape == "lean":
        resource = Resource(attributes=[attribute("service.name", service)])
        scope = None
    else:
        resource = Resource(
            attributes=[
                attribute("service.name", service),
                attribute("telemetry.sdk.language", "python"),
                attribute("telemetry.sdk.name", "opentelemetry"),
                attribute("host.name", "bench-1"),
            ]
        )
        scope = InstrumentationScope(name="bench.checkout")
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=records)])
        ]
    )
    return request.SerializeToString()


def count_rows(clickhouse, database):
    query = urllib.parse.urlencode({"database": database, "query": "SELECT count() FROM logs"})
    with urllib.request.urlopen(f"{clickhouse}/?{query}", timeout=10) as response:
        return int(response.read().decode().strip())


class Sender(threading.Thread):
    """Posts bodies on one keep-alive connection until the shared request counter runs out."""

    def __init__(self, url, bodies, batch, requests, counter, lock, deadline):
        super().__init__(daemon=True)
        self.url = url
        self.batch = batch
        self.deadline = deadline
        self.bodies = bodies
        self.requests = requests
        self.counter = counter
        self.lock = lock
        self.latencies = []
        self.accepted = 0
        self.rejected = 0
        self.throttled = 0
        self.error = None

    def next_request(self):
        with self.lock:
            request = self.counter[0]
            self.counter[0] += 1
        return request

    def connect(self):
        return http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)

    def post(self, connection, body):
        connection.request(
            "POST", self.url.path, body=body, headers={"Content-Type": "application/x-protobuf"}
        )
        response = connection.getresponse()
        return response.status, response.read()

    def run(self):
        connection = self.connect()
        try:
            while (request := self.next_request()) < self.requests:
                if time.perf_counter() > self.deadline:
                    raise RuntimeError("the deadline passed before every request was sent")
                body = self.bodies[request % len(self.bodies)]
                started = time.perf_counter()
                status, answer = self.post(connection, body)
                self.latencies.append(time.perf_counter() - started)
                while status in (429, 503):
                    if time.perf_counter() > self.deadline:
                        raise RuntimeError(f"still {status} at the deadline")
                    self.throttled += 1
                    time.sleep(THROTTLE_PAUSE_SECONDS)
                    status, answer = self.post(connection, body)
                if status != 200:
                    raise RuntimeError(f"status {status}: {answer[:300]!r}")
                response = ExportLogsServiceResponse.FromString(answer)
                rejected = response.partial_success.rejected_log_records
                self.rejected += rejected
                self.accepted += self.batch - rejected
        except Exception as error:  # reported by main, which exits non-zero
            self.error = error
        finally:
            connection.close()


class GrpcSender(Sender):
    """Calls LogsService/Export on a channel of its own; `url` is host:port. The answers are read
    as their HTTP twins (200, 429, 503) so that the loop above serves both."""

    EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    TWINS = {grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503}

    def connect(self):
        channel = grpc.insecure_channel(self.url)
        # The messages are encoded already: no request serializer, the bytes go as they are.
        channel.export = channel.unary_unary(self.EXPORT)
        return channel

    def post(self, channel, body):
        try:
            return 200, channel.export(body, timeout=60)
        except grpc.RpcError as error:
            status = self.TWINS.get(error.code())
            if status is None:
                raise RuntimeError(f"{error.code()}: {error.details()}") from error
            return status, b""


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the OTLP/HTTP logs endpoint (…/v1/logs)")
    target.add_argument("--grpc", help="the OTLP/gRPC endpoint, host:port")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="log records per request")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--bodies", type=int, default=16, help="distinct pre-encoded requests")
    parser.add_argument("--service", default="otlp-bench")
    parser.add_argument(
        "--shape",
        choices=("sdk", "lean"),
        default="sdk",
        help="sdk: resource, scope, 4 attributes, ids, time; lean: the events of `loadgen batch`",
    )
    parser.add_argument("--clickhouse", help="ClickHouse HTTP URL, to wait until every record is stored")
    parser.add_argument("--database", help="the stack's ClickHouse database")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before giving up, sending and storing"
    )
    arguments = parser.parse_args()

    bodies = [
        build_body(index, arguments.batch, arguments.service, arguments.shape)
        for index in range(arguments.bodies)
    ]
    requests = -(-arguments.events // arguments.batch)
    store = arguments.clickhouse and arguments.database
    rows_before = count_rows(arguments.clickhouse, arguments.database) if store else 0

    counter, lock = [0], threading.Lock()
    url = arguments.grpc or urllib.parse.urlsplit(arguments.url)
    kind = GrpcSender if arguments.grpc else Sender
    cpu_started, started = time.process_time(), time.perf_counter()
    deadline = started + arguments.timeout
    senders = [
        kind(url, bodies, arguments.batch, requests, counter, lock, deadline)
        for _ in range(arguments.connections)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    http_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    errors = [str(sender.error) for sender in senders if sender.error]
    if errors:
        print(f"load failed: {errors}", file=sys.stderr)
        return 1

    accepted = sum(sender.accepted for sender in senders)
    stored_seconds = None
    if store:
        while count_rows(arguments.clickhouse, arguments.database) < rows_before + accepted:
            if time.perf_counter() > deadline:
                print(f"the records were not all stored within {arguments.timeout} s", file=sys.stderr)
                return 1
            time.sleep(0.05)
        stored_seconds = time.perf_counter() - started

    latencies = [latency for sender in senders for latency in sender.latencies]
    print(json.dumps({
        "scenario": "otlp_grpc" if arguments.grpc else "otlp",
        "shape": arguments.shape,
        "connections": arguments.connections,
        "batch": arguments.batch,
        "events": requests * arguments.batch,
        "accepted": accepted,
        "rejected": sum(sender.rejected for sender in senders),
        "throttled": sum(sender.throttled for sender in senders),
        "body_bytes": round(sum(len(body) for body in bodies) / len(bodies)),
        "http_seconds": round(http_seconds, 3),
        "http_events_per_second": round(accepted / http_seconds),
        "stored_seconds": round(stored_seconds, 3) if stored_seconds else None,
        "end_to_end_events_per_second": round(accepted / stored_seconds) if stored_seconds else None,
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies, default=0) * 1000, 2),
        },
        "generator_cpu_s": round(cpu_seconds, 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
