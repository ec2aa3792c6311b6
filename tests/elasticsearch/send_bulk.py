"""Sends documents to the ingestion service's Elasticsearch bulk API with the official client's
helpers.bulk, and prints (JSON on stdout) what it sent and what the client reported, for
tests/tests/elasticsearch.rs to find through GET /logs.

    python send_bulk.py --url http://127.0.0.1:8080 --service NAME --index INDEX [--api-key KEY] [--gzip]
"""

import argparse
import json
import sys

from elasticsearch import Elasticsearch, helpers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()

    options = {"http_compress": args.gzip, "request_timeout": 30}
    if args.api_key:
        # An Elasticsearch API key is an (id, key) pair; the client sends ApiKey base64(id:key).
        options["api_key"] = ("e2e-key-id", args.api_key)
    client = Elasticsearch(args.url, **options)

    # The version document must satisfy the client (it raises on a non-Elasticsearch answer).
    info = client.info()

    records = [
        {
            # ECS: nested objects, @timestamp, log.level, service.name
            "_op_type": "index",
            "_index": args.index,
            "_id": "doc-ecs",
            "_source": {
                "@timestamp": "2026-12-04T10:00:00.250Z",
                "message": "ecs document",
                "log": {"level": "warn", "logger": "payments"},
                "service": {"name": args.service, "version": "1.2.3"},
                "user": {"id": 42, "roles": ["admin", "ops"]},
                "http": {"response": {"status_code": 502}},
            },
        },
        {
            # plain fields: timestamp, level, service, and a message under `log`
            "_op_type": "create",
            "_index": args.index,
            "_source": {
                "timestamp": "2026-12-04T10:00:01Z",
                "log": "plain document",
                "level": "ERROR",
                "service": args.service,
                "host": "web-1",
                "ok": True,
            },
        },
        {
            # no service at all: the index names it; `msg` as the message; epoch millis
            "_op_type": "index",
            "_index": args.index + "-noservice",
            "_source": {
                "@timestamp": 1796378402000,
                "msg": "indexed by name only",
                "log.level": "debug",
            },
        },
    ]
    success, errors = helpers.bulk(client, records, raise_on_error=False, stats_only=False)
    json.dump(
        {
            "version": info["version"]["number"],
            "success": success,
            "errors": errors,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
