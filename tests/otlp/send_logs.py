#!/usr/bin/env python3
"""Sends log records to an OTLP logs endpoint with the official OpenTelemetry Python SDK.

The records go through Python's standard `logging` module: the OpenTelemetry logging handler turns
each one into an OTLP log record, a batch processor groups them and the SDK's OTLP/HTTP exporter
(protobuf, optionally gzip) posts them, or with `--protocol grpc` its OTLP/gRPC exporter calls
LogsService/Export (optionally gzip). Some are emitted inside an active span, so they carry its
trace and span ids; all carry `extra=` attributes; they cover several severities.

On success it prints one JSON document on stdout describing what it sent (the span's ids and,
for each record, its message, level, timestamp and attributes as text), for the end-to-end test
(tests/tests/otlp.rs, tests/tests/otlp_grpc.rs) to look each record up through GET /logs. It exits with status 1 when an
export failed or did not finish.

    python send_logs.py --endpoint http://127.0.0.1:8080/v1/logs --service checkout [--gzip]
    python send_logs.py --protocol grpc --endpoint http://127.0.0.1:4317 --service checkout [--gzip]
"""

import argparse
import json
import logging
import sys
import time

import grpc
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

LOGGER_NAME = "e2e.otlp.checkout"


class RecordingExporter(LogRecordExporter):
    """Delegates to one of the SDK's OTLP exporters and remembers each export's result."""

    def __init__(self, exporter):
        self._exporter = exporter
        self.results = []

    def export(self, batch):
        result = self._exporter.export(batch)
        self.results.append((len(batch), result.name))
        return result

    def force_flush(self, timeout_millis=30_000):
        return self._exporter.force_flush(timeout_millis)

    def shutdown(self):
        self._exporter.shutdown()


class Capture(logging.Handler):
    """Keeps each record's creation time, which the OpenTelemetry handler turns into time_unix_nano."""

    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.created = {}

    def emit(self, record):
        self.created[record.getMessage()] = int(record.created * 1e9)


def rfc3339_nanos(nanos):
    """The timestamp text GET /logs returns: UTC, nine fraction digits."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def as_metadata_text(value):
    """How the ingestion service stores an attribute value (OTLP AnyValue) as metadata text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True,
                        help="the full URL of the OTLP/HTTP logs endpoint, or http://host:port for gRPC")
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http",
                        help="OTLP/HTTP (protobuf) or OTLP/gRPC")
    parser.add_argument("--service", required=True, help="service.name of the resource")
    parser.add_argument("--gzip", action="store_true", help="compress the export requests with gzip")
    arguments = parser.parse_args()

    resource = Resource.create({"service.name": arguments.service, "deployment.environment": "e2e"})
    if arguments.protocol == "grpc":
        otlp_exporter = GrpcLogExporter(
            endpoint=arguments.endpoint,
            insecure=True,
            compression=grpc.Compression.Gzip if arguments.gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    else:
        otlp_exporter = OTLPLogExporter(
            endpoint=arguments.endpoint,
            compression=Compression.Gzip if arguments.gzip else Compression.NoCompression,
            timeout=10,
        )
    exporter = RecordingExporter(otlp_exporter)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=200))
    tracer = TracerProvider(resource=resource).get_tracer(LOGGER_NAME)

    capture = Capture()
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider))
    logger.addHandler(capture)

    # (message, level as stored, extra attributes, inside the span)
    sent = [
        ("cache warmed with %d entries" % 128, "DEBUG", {"cache.entries": 128, "cache.cold": False}, False),
        ("order placed", "INFO", {"order_id": "A-17", "amount": 12.5, "paid": True}, True),
        ("payment provider slow", "WARN", {"order_id": "A-17", "latency_ms": 1234}, True),
        ("payment failed", "ERROR", {"order_id": "A-17", "error.code": "card_declined"}, True),
        ("ledger unavailable", "FATAL", {"ledger": "primary"}, False),
    ]
    python_levels = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
                     "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}

    def emit(records):
        for message, level, extra, _ in records:
            logger.log(python_levels[level], message, extra=extra)

    # One span around the middle records: they share its trace and span ids.
    emit(sent[:1])
    with tracer.start_as_current_span("checkout") as span:
        context = span.get_span_context()
        trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
        emit(sent[1:4])
    emit(sent[4:])

    finished = logger_provider.force_flush(timeout_millis=30_000)
    logger_provider.shutdown()

    failed = [result for result in exporter.results if result[1] != "SUCCESS"]
    exported = sum(count for count, result in exporter.results if result == "SUCCESS")
    if not finished or failed or exported != len(sent):
        print(f"export failed: finished={finished} results={exporter.results}", file=sys.stderr)
        return 1

    print(json.dumps({
        "service": arguments.service,
        "protocol": arguments.protocol,
        "trace_id": trace_id,
        "span_id": span_id,
        "scope": LOGGER_NAME,
        "exports": exporter.results,
        "records": [
            {
                "message": message,
                "level": level,
                "timestamp": rfc3339_nanos(capture.created[message]),
                "attributes": {key: as_metadata_text(value) for key, value in extra.items()},
                "in_span": in_span,
            }
            for message, level, extra, in_span in sent
        ],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
