"""Sends log records to a Loki push endpoint (JSON) with python-logging-loki's LokiHandler through
Python's `logging`, as an application would, then prints what it sent as JSON on stdout for
tests/tests/loki_push.rs to look up through GET /logs.

    python send_logging_loki.py <push url> <service> [api key]

The handler stamps each entry with the time of sending, not the record's creation time; the
script notes the clock just before and after each call so that the test can bound it.
"""

import json
import logging
import sys
import time

import logging_loki


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print("usage: send_logging_loki.py <push url> <service> [api key]", file=sys.stderr)
        return 2
    url, service = sys.argv[1], sys.argv[2]
    key = sys.argv[3] if len(sys.argv) == 4 else None

    handler = logging_loki.LokiHandler(
        url=url,
        tags={"service_name": service, "env": "e2e", "client": "python-logging-loki"},
        auth=("python", key) if key else None,
        version="1",
    )
    failures = []
    # The handler reports a refused push through logging's handleError (a traceback on stderr);
    # collect them instead, so that a refusal fails the test.
    handler.handleError = lambda record: failures.append(str(sys.exc_info()[1]))

    logger = logging.getLogger("loki-e2e")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)

    sent = []
    for index, level in enumerate(
        [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    ):
        message = f"python-logging-loki {logging.getLevelName(level)} record {index} ünïcode"
        before = time.time_ns()
        logger.log(level, message, extra={"tags": {"request_id": f"req-{index}"}})
        after = time.time_ns()
        sent.append(
            {
                "level_name": logging.getLevelName(level).lower(),
                "message": message,
                "request_id": f"req-{index}",
                "sent_after_ns": before,
                "sent_before_ns": after,
            }
        )
    handler.close()
    if failures:
        print(f"python-logging-loki reported: {failures}", file=sys.stderr)
        return 1
    print(json.dumps({"records": sent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
