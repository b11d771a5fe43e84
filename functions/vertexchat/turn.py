"""One turn, protocol-neutral: a Claude request -> a resilient upstream call -> the reply, stored and logged.

A :class:`Turn` owns everything that happens after an API's codec has turned the client's
request into Claude's terms, whatever the API:

1. the upstream call, under the retry/failover policy (``resilience.py``), streamed or not;
2. for a stream, the relay (``relay.py``) with the API's encoder; the turn is the relay's
   sink, told exactly once how the stream ended (complete, error, client gone, shutdown,
   timeout) before the last bytes go out;
3. the reply, built by the codec from the fold of Claude's events (or the non-streamed
   message), stored in the session with its status (``complete``, ``incomplete`` for a cut
   stream, ``error``), the ``Idempotency-Key`` settled (completed with the result, or
   released so a retry runs again), and the fields of the request's one log line.

The log line itself is written when the response closes (``routing.serve``), so it carries
what the turn recorded however the turn ended.

Tested in tests/test_relay.py. Tested in tests/test_chat_completions.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from vertexchat import web
from vertexchat.catalog import Model
from vertexchat.errors import APIError
from vertexchat.relay import (
    CLIENT_CLOSED,
    COMPLETE,
    Deadlines,
    RelayBody,
    StreamEncoder,
    StreamEnd,
    Upstream,
    Watch,
    open_stream,
    relay,
)
from vertexchat.resilience import Attempts, call_with_failover

if TYPE_CHECKING:
    from vertexchat.services import Services
    from vertexchat.sessions.recorder import IdempotentRequest, Recorder

log = logging.getLogger(__name__)
JSON = dict[str, Any]
T = TypeVar("T")

# How a stream's outcome is recorded on the stored reply.
STORED_STATUS = {COMPLETE: "complete", CLIENT_CLOSED: "incomplete", "shutdown": "incomplete", "error": "error"}


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply in the API's terms: the response body, and what the session stores of it."""

    body: JSON
    message: JSON
    finish_reason: str | None
    usage: JSON | None


class ClaudeCalls(Protocol):
    """The upstream calls a turn makes (``upstream.claude.Vertex`` by default; a codec may wrap them)."""

    def create(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
               region: str | None = None) -> JSON: ...

    def stream(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
               region: str | None = None) -> Callable[[], Upstream]: ...


class ReplyCodec(Protocol):
    """The API's reading of a Claude message (whole, or as far as a cut stream got)."""

    def reply(self, message: Mapping[str, Any]) -> Reply: ...


@dataclass
class Turn:
    """One turn of one request; see the module docstring."""

    call: web.Call
    svc: Services
    target: Model
    recorder: Recorder | None = None
    idempotency: IdempotentRequest | None = None
    attempts: Attempts = field(default_factory=Attempts)
    # The calls to make (default: ``svc.vertex``) and the headers to send (default: the model's).
    upstream: ClaudeCalls | None = None
    headers: Mapping[str, str] | None = None

    def create(self, body: Mapping[str, Any], codec: ReplyCodec) -> Reply:
        """A non-streamed turn: the upstream's message, read by the API's codec, stored and settled."""
        message = self.failover(lambda region: self._calls.create(body, headers=self._headers, region=region))
        reply = codec.reply(message)
        seq = None
        if self.recorder is not None:
            try:
                seq = self.recorder.save_reply(reply.message, status="complete", model=self.target.vertex_id,
                                               finish_reason=reply.finish_reason, usage=message.get("usage"))
            except APIError:
                # The client still gets the reply it paid for; a full-history client resends it next
                # turn and the transcript records it then.
                self.call.response_headers["X-Session-Saved"] = "false"
        if self.idempotency is not None:
            self.idempotency.complete(reply.body, self._session_id, seq)
        self.call.fields.update(usage=reply.usage, finish_reason=reply.finish_reason)
        return reply

    def stream(self, body: Mapping[str, Any], codec: ReplyCodec, encoder: StreamEncoder) -> RelayBody:
        """A streamed turn: the response body, which reports back to :meth:`stream_ended`."""
        settings = self.svc.settings
        watch = Watch(client_gone=web.client_gone_probe(self.call.request), shutting_down=self.svc.shutting_down)
        stream = self.failover(lambda region: open_stream(self._opener(body, region), settings.first_byte_timeout,
                                                           watch))
        deadlines = Deadlines(heartbeat=settings.heartbeat_seconds, idle=settings.idle_timeout,
                              total=settings.total_timeout)
        return relay(stream, encoder, _Sink(self, codec), deadlines=deadlines, watch=watch,
                     request_id=self.call.request_id)

    def stream_ended(self, end: StreamEnd, codec: ReplyCodec) -> APIError | None:
        """The relay's report: store the reply (also a partial one), settle the key, fill the log line."""
        reply = codec.reply(end.fold.message)
        finished = end.outcome == COMPLETE
        late: APIError | None = None
        seq = None
        if self.recorder is not None:
            try:
                seq = self.recorder.save_reply(reply.message, status=STORED_STATUS[end.outcome],
                                               model=self.target.vertex_id,
                                               finish_reason=reply.finish_reason if finished else None,
                                               usage=end.fold.usage)
            except APIError as exc:
                late = exc if finished else None
        if self.idempotency is not None:
            if finished and late is None:
                self.idempotency.complete(reply.body, self._session_id, seq)
            else:
                self.idempotency.release()
        error = end.error or late
        self.call.fields.update(outcome=end.outcome, ttft_ms=end.first_token_ms, events=end.events,
                                usage=reply.usage, finish_reason=reply.finish_reason)
        self.call.outcome(error.status if error else 200, error)
        return late

    @property
    def _session_id(self) -> str | None:
        return self.recorder.session_id if self.recorder is not None else None

    @property
    def _calls(self) -> ClaudeCalls:
        return self.upstream if self.upstream is not None else self.svc.vertex

    @property
    def _headers(self) -> Mapping[str, str]:
        return self.headers if self.headers is not None else self.target.headers

    def _opener(self, body: Mapping[str, Any], region: str) -> Callable[[], Upstream]:
        return self._calls.stream(body, headers=self._headers, region=region)

    def failover(self, attempt: Callable[[str], T]) -> T:
        """``attempt(region)`` under the retry/failover policy, its regions recorded for the log line."""
        try:
            return call_with_failover(attempt, model=self.target.vertex_id, policy=self.svc.upstream_policy,
                                      breakers=self.svc.breakers, record=self.attempts)
        finally:
            regions = self.attempts.regions
            self.call.fields.update(region=regions[-1] if regions else None, attempts=len(regions),
                                    attempt_regions=regions)


@dataclass(frozen=True, slots=True)
class _Sink:
    """The relay's sink for one streamed turn (see ``relay.TurnSink``)."""

    turn: Turn
    codec: ReplyCodec

    def stream_ended(self, end: StreamEnd) -> APIError | None:
        return self.turn.stream_ended(end, self.codec)
