"""The turn's upstream calls for the Messages API: the exact body posted raw, one retry without refused betas.

:class:`PassThrough` is a :class:`~vertexchat.turn.ClaudeCalls`: the turn runs it under its
retry and failover policy, streamed or not, exactly as it runs the chat codec's calls. Each
call posts the client's body (encoded once per request) to ``:rawPredict`` /
``:streamRawPredict`` of the resolved Vertex model. When Vertex answers 400 naming
``anthropic-beta`` values it refuses (``betas.refused_in``), the same call is made once more
without them, and the dropped values are logged; a stream's retry happens inside its opener,
so it still counts as one attempt before the first byte.

Tested in tests/test_anthropic_messages.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from vertexchat.anthropic_messages import betas
from vertexchat.anthropic_messages.request import encode
from vertexchat.errors import InvalidRequestError

if TYPE_CHECKING:
    from vertexchat.upstream.http import UpstreamStream, VertexHttp

log = logging.getLogger(__name__)
JSON = dict[str, Any]
T = TypeVar("T")


class PassThrough:
    """Raw Messages API calls to one Vertex model for one request."""

    def __init__(self, vertex: VertexHttp, model: str, fields: dict[str, Any], request_id: str) -> None:
        self._vertex = vertex
        self._model = model
        self._fields = fields  # the request's log fields: refused betas are recorded there
        self._request_id = request_id
        self._encoded: tuple[Mapping[str, Any], bytes] | None = None

    def create(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
               region: str | None = None) -> JSON:
        content = self._content(body)
        return self.beta_retry(lambda sent: self._vertex.create_raw(self._model, content, headers=sent,
                                                                    region=region), headers or {})

    def stream(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
               region: str | None = None) -> Callable[[], UpstreamStream]:
        content = self._content(body)
        sent = headers or {}
        # The first request is built here, on the caller's thread (credentials, see VertexHttp.stream_raw).
        first = self._vertex.stream_raw(self._model, content, headers=sent, region=region)

        def attempt(with_headers: Mapping[str, str]) -> UpstreamStream:
            if with_headers is sent:
                return first()
            return self._vertex.stream_raw(self._model, content, headers=with_headers, region=region)()

        return lambda: self.beta_retry(attempt, sent)

    def beta_retry(self, call: Callable[[Mapping[str, str]], T], sent: Mapping[str, str]) -> T:
        return beta_retry(call, sent, fields=self._fields, request_id=self._request_id)

    def _content(self, body: Mapping[str, Any]) -> bytes:
        # Every attempt and region posts the same bytes: encode them once.
        if self._encoded is None or self._encoded[0] is not body:
            self._encoded = (body, encode(body))
        return self._encoded[1]


def beta_retry(call: Callable[[Mapping[str, str]], T], sent: Mapping[str, str], *, fields: dict[str, Any],
               request_id: str) -> T:
    """``call(sent)``; after a 400 refusing some of its beta values, ``call`` once more without them.

    The refused values go in the request's log ``fields`` and in a warning of their own (add
    them to ``catalog.REFUSED_BETAS`` to save the round trip).
    """
    try:
        return call(sent)
    except InvalidRequestError as exc:
        refused = betas.refused_in(exc.message, sent)
        if not refused:
            raise
    fields["betas_refused"] = refused
    log.warning("Vertex AI refused anthropic-beta values; retrying without them",
                extra={"fields": {"request_id": request_id, "betas": refused}})
    return call(betas.without(sent, refused))
