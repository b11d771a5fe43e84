"""One JSON object per line on stdout, the shape Cloud Logging parses.

``severity`` and ``message`` are Cloud Logging's special keys; the trace of the request
goes in ``logging.googleapis.com/trace`` so every line of one request is grouped with its
Cloud Run request log. Never put prompt text, completions, tokens or keys in a line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?$")

# Keys copied from the request onto every other line it writes (retries, breakers, storage
# warnings), so Cloud Logging groups them with the request line.
CORRELATION_KEYS = ("request_id", "function", "logging.googleapis.com/trace", "logging.googleapis.com/spanId",
                    "logging.googleapis.com/trace_sampled")

_configured = False
# The request the current thread is serving: a live view of its fields, read at format time.
_request: ContextVar[Mapping[str, Any] | None] = ContextVar("vertexchat_request", default=None)


class JsonFormatter(logging.Formatter):
    """Formats a record as one Cloud Logging JSON line; extra fields come from ``record.fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": record.getMessage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        bound = _request.get()
        if bound is not None:
            for key in CORRELATION_KEYS:
                if key in bound and key not in line:
                    line[key] = bound[key]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


def configure(level: str) -> None:
    """Send the package's logs (and warnings from libraries) to stdout as JSON lines, once."""
    global _configured  # noqa: PLW0603 - logging configuration is process-wide by nature
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("vertexchat").setLevel(level)
    _configured = True


def bind(fields: Mapping[str, Any] | None) -> None:
    """Correlate the lines this thread writes with a request (``None``: with none).

    ``fields`` is kept by reference, so trace fields added after binding still show up.
    A streamed response is generated on the thread that ran its handler, so its lines are
    correlated too; threads started by a request are not.
    """
    _request.set(fields)


def trace_fields(traceparent: str | None, cloud_trace: str | None, project: str | None) -> dict[str, Any]:
    """Cloud Logging trace fields from ``traceparent`` (preferred) or ``X-Cloud-Trace-Context``."""
    trace_id = span_id = None
    sampled = False
    match = _TRACEPARENT.match((traceparent or "").strip().lower())
    if match:
        trace_id, span_id = match.group(1), match.group(2)
        sampled = int(match.group(3), 16) & 1 == 1
    else:
        legacy = _CLOUD_TRACE.match((cloud_trace or "").strip())
        if legacy:
            trace_id = legacy.group(1).lower()
            # The legacy header carries the span id in decimal; Cloud Logging wants 16 hex digits.
            span_id = f"{int(legacy.group(2)):016x}" if legacy.group(2) else None
            sampled = legacy.group(3) == "1"
    if not trace_id or trace_id == "0" * 32:
        return {}
    fields: dict[str, Any] = {
        "logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}" if project else trace_id,
        "logging.googleapis.com/trace_sampled": sampled,
    }
    if span_id and span_id != "0" * 16:
        fields["logging.googleapis.com/spanId"] = span_id[-16:]
    return fields


def user_hash(user_id: str | None) -> str | None:
    """A stable, non-reversible tag for a user id, for correlating log lines without PII."""
    if not user_id:
        return None
    return hashlib.sha256(user_id.encode()).hexdigest()[:16]
