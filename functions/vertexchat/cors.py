"""CORS for the hosted frontend: exact origins and ``https://*.example.com`` patterns.

Browser-facing functions are public at the IAM layer (an IAM-protected function rejects the
browser's preflight, which carries no token), so CORS and token checks happen here. A
preflight never needs a token; a disallowed origin simply gets no CORS headers, and the
browser blocks the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALLOWED_METHODS = "GET, POST, PATCH, DELETE, HEAD, OPTIONS"
ALLOWED_HEADERS = ("authorization", "content-type", "idempotency-key", "x-session-id", "x-request-id",
                   "openai-organization", "openai-project", "traceparent",
                   # The Anthropic SDKs in a browser (dangerouslyAllowBrowser), on the Messages API routes.
                   "x-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access")
# The OpenAI JS SDK adds x-stainless-* telemetry headers to every request it makes.
ALLOWED_HEADER_PREFIXES = ("x-stainless-",)
# What a page may read of a cross-origin answer beyond the CORS-safelisted headers: WWW-Authenticate
# tells it the token expired (refresh and retry) rather than that it has no access.
EXPOSED_HEADERS = ("X-Request-Id, X-Session-Id, X-Session-Saved, Idempotent-Replayed, Retry-After, WWW-Authenticate, "
                   "X-Catalog-Source, X-Upstream, request-id")
MAX_AGE_SECONDS = "7200"  # Chromium caps preflight caching at two hours


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Which origins may call, and the headers that say so."""

    exact: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> CorsPolicy:
        """Build from validated entries (see ``config``): origins or ``scheme://*.domain[:port]``."""
        exact = frozenset(e for e in entries if "*" not in e)
        patterns = tuple(_pattern(e) for e in entries if "*" in e)
        return cls(exact, patterns)

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        return origin in self.exact or any(p.fullmatch(origin) for p in self.patterns)

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for a real (or streamed) response; empty for a disallowed origin."""
        headers = {"Vary": "Origin"}
        if self.allows(origin):
            assert origin is not None
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return headers

    def preflight_headers(self, origin: str | None, requested_headers: str | None) -> dict[str, str]:
        """Headers for an ``OPTIONS`` preflight; only ``Vary`` for a disallowed origin."""
        headers = {"Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
        if not self.allows(origin):
            return headers
        assert origin is not None
        headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": _allowed_request_headers(requested_headers),
            "Access-Control-Max-Age": MAX_AGE_SECONDS,
        })
        return headers


def _allowed_request_headers(requested: str | None) -> str:
    names = [h.strip().lower() for h in (requested or "").split(",") if h.strip()]
    extra = [n for n in names if n not in ALLOWED_HEADERS and n.startswith(ALLOWED_HEADER_PREFIXES)]
    return ", ".join((*ALLOWED_HEADERS, *extra))


def _pattern(entry: str) -> re.Pattern[str]:
    scheme, _, rest = entry.partition("://*.")
    domain = re.escape(rest)
    # One or more DNS labels in place of the star; never the bare domain, never a lookalike suffix.
    return re.compile(rf"{re.escape(scheme)}://(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+{domain}")
