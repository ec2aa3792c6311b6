"""Schemathesis hooks for infra/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

`POST /ingest` also takes `application/x-ndjson`: one event object per line. Its OpenAPI schema is
a string (the body's text), which schemathesis has no serializer for; this one sends the
generated text as UTF-8, so NDJSON bodies get fuzzed like JSON ones.
"""

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


# Hypothesis describes the lambdas of a strategy by parsing their source with `ast.parse`, which
# in CPython 3.11 up to at least 3.11.7 (Debian 12 ships 3.11.2) may raise
# `SystemError: AST constructor recursion depth mismatch` for no fault of the input; for the
# deeply nested schema of `POST /ingest` it aborted about every other run. The description only
# names the lambda in messages, so an unknown one is harmless.
from hypothesis.internal import lambda_sources  # noqa: E402

_describe_lambda = lambda_sources._lambda_description


def _describe_lambda_or_unknown(f, *args, **kwargs):
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError:
        return "lambda *args, **kwargs: <unknown>"


lambda_sources._lambda_description = _describe_lambda_or_unknown
