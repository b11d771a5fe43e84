"""Log lines: Cloud Logging's JSON shape and trace correlation from both header forms."""

from __future__ import annotations

import json
import logging

from vertexchat import logs


def test_traceparent() -> None:
    fields = logs.trace_fields("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None, "proj")
    assert fields["logging.googleapis.com/trace"] == "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert fields["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert fields["logging.googleapis.com/trace_sampled"] is True


def test_cloud_trace_context_span_is_decimal() -> None:
    fields = logs.trace_fields(None, "105445aa7843bc8bf206b12000100000/1;o=1", "proj")
    assert fields["logging.googleapis.com/trace"] == "projects/proj/traces/105445aa7843bc8bf206b12000100000"
    assert fields["logging.googleapis.com/spanId"] == "0000000000000001"
    big = logs.trace_fields(None, "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0", "p")
    assert big["logging.googleapis.com/spanId"] == "ffffffffffffffff"
    assert big["logging.googleapis.com/trace_sampled"] is False


def test_traceparent_preferred_and_garbage_ignored() -> None:
    both = logs.trace_fields("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                             "105445aa7843bc8bf206b12000100000/1;o=1", "p")
    assert both["logging.googleapis.com/trace"].endswith("4bf92f3577b34da6a3ce929d0e0e4736")
    assert logs.trace_fields("nonsense", "also nonsense", "p") == {}


def test_formatter_writes_one_json_object_with_severity() -> None:
    record = logging.LogRecord("vertexchat.request", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.fields = {"request_id": "r1"}
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["severity"] == "WARNING"
    assert line["message"] == "hello you"
    assert line["request_id"] == "r1"


def test_user_hash_is_stable_and_not_the_id() -> None:
    assert logs.user_hash("alice") == logs.user_hash("alice")
    assert "alice" not in (logs.user_hash("alice") or "")
    assert logs.user_hash(None) is None


def test_lines_written_during_a_request_carry_its_id_and_trace() -> None:
    def line_of(**fields: object) -> dict[str, object]:
        record = logging.LogRecord("vertexchat.resilience", logging.WARNING, __file__, 1, "retry", (), None)
        record.fields = fields
        return dict(json.loads(logs.JsonFormatter().format(record)))

    request: dict[str, object] = {"request_id": "r1", "function": "api", "model": "not copied"}
    logs.bind(request)
    try:
        # Trace fields are added after binding; the binding is a live view.
        request.update(logs.trace_fields("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None, "p"))
        line = line_of(region="us-east5")
        assert line["request_id"] == "r1"
        assert line["logging.googleapis.com/trace"] == "projects/p/traces/4bf92f3577b34da6a3ce929d0e0e4736"
        assert "model" not in line
        assert line_of(request_id="own")["request_id"] == "own", "a line's own fields win"
    finally:
        logs.bind(None)
    assert "request_id" not in line_of()
