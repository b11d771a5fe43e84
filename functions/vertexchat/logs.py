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
from typing import Any

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([01]))?$")

_configured = False


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
