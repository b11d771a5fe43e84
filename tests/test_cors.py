"""The CORS policy: exact origins, wildcard subdomains, and nothing for anyone else."""

from __future__ import annotations

import pytest

from vertexchat.cors import CorsPolicy

POLICY = CorsPolicy.parse(("https://app.example.com", "https://*.preview.example.com", "http://localhost:5173"))


@pytest.mark.parametrize("origin", [
    "https://app.example.com", "https://pr-12.preview.example.com", "https://a.b.preview.example.com",
    "http://localhost:5173",
])
def test_allowed(origin: str) -> None:
    assert POLICY.allows(origin)
    headers = POLICY.response_headers(origin)
    assert headers["Access-Control-Allow-Origin"] == origin
    assert "X-Session-Id" in headers["Access-Control-Expose-Headers"]
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    assert headers["Vary"] == "Origin"


@pytest.mark.parametrize("origin", [
    None, "", "null", "https://evil.com", "https://app.example.com.evil.com", "http://app.example.com",
    "https://preview.example.com", "https://evilpreview.example.com", "https://x.preview.example.com:444",
    "http://localhost:5174",
])
def test_refused(origin: str | None) -> None:
    assert not POLICY.allows(origin)
    assert "Access-Control-Allow-Origin" not in POLICY.response_headers(origin)
    assert "Access-Control-Allow-Origin" not in POLICY.preflight_headers(origin, "authorization")


def test_preflight_allows_the_documented_headers_and_sdk_telemetry() -> None:
    headers = POLICY.preflight_headers("https://app.example.com", "Authorization, Content-Type, X-Stainless-OS")
    allowed = headers["Access-Control-Allow-Headers"].split(", ")
    for name in ("authorization", "content-type", "idempotency-key", "x-session-id", "x-stainless-os"):
        assert name in allowed
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert int(headers["Access-Control-Max-Age"]) > 0


def test_preflight_allows_the_anthropic_sdks_browser_headers() -> None:
    requested = "x-api-key, anthropic-version, anthropic-beta, anthropic-dangerous-direct-browser-access"
    allowed = POLICY.preflight_headers("https://app.example.com", requested)["Access-Control-Allow-Headers"]
    assert set(requested.split(", ")) <= set(allowed.split(", "))
    assert "request-id" in POLICY.response_headers("https://app.example.com")["Access-Control-Expose-Headers"]
