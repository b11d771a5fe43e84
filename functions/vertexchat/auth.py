"""Who is calling: bearer JWTs verified against the issuer's JWKS with PyJWT.

Verification is PyJWT's (signature, ``exp``/``nbf``/``iat`` with leeway, ``iss``, ``aud``);
its ``PyJWKClient`` caches the key set, is thread-safe, and refetches on an unknown ``kid``
at most once per cooldown (60 s here), which is how key rotation is honoured without
letting forged ``kid`` values hammer the issuer. Only asymmetric algorithms are accepted,
so ``alg: none`` and HMAC-with-the-public-key confusions fail before any key is used.

Modes (``AUTH_MODE``):
- ``firebase``: Firebase Authentication ID tokens; issuer ``https://securetoken.google.com/<project>``,
  audience the project, Google's securetoken keys.
- ``oidc``: any OIDC provider (``AUTH_ISSUER``, ``AUTH_AUDIENCE``, ``AUTH_JWKS_URL``).
- ``none``: local emulation only, one fixed identity; refused when deployed (config.py).

Tokens without an audience (``AUTH_ALLOW_NO_AUDIENCE``, oidc only): some issuers' access
tokens carry no ``aud`` at all (WorkOS AuthKit's). With the setting on, such a token is
accepted, and everything else is still checked: signature, times, ``iss``. A token that does
carry an ``aud`` must still match ``AUTH_AUDIENCE`` (with none configured it is refused: an
audience we cannot check is never waved through). Whether ``aud`` is checked is read from the
token itself before it is verified; the verified bytes are the same, so that cannot be forged.
``AUTH_CLIENT_ID``, required with the setting: a ``client_id`` or ``azp`` claim, when the
token has one, must equal it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt

from vertexchat.errors import AuthenticationError, ServiceUnavailableError

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_SECONDS = 60
REFETCH_COOLDOWN_SECONDS = 60

# PyJWT's exception -> what the caller is told (never the token itself).
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "The bearer token has expired."),
    (jwt.ImmatureSignatureError, "The bearer token is not valid yet (nbf/iat in the future)."),
    (jwt.InvalidAudienceError, "The bearer token has the wrong audience."),
    (jwt.InvalidIssuerError, "The bearer token has the wrong issuer."),
    (jwt.InvalidSignatureError, "The bearer token's signature does not verify."),
    (jwt.MissingRequiredClaimError, "The bearer token lacks a required claim."),
    (jwt.InvalidAlgorithmError, "The bearer token uses an algorithm that is not accepted."),
    (jwt.DecodeError, "The bearer token is malformed."),
)


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified caller. ``subject`` owns sessions."""

    subject: str


# Claims in which issuers name the client (application) a token was issued to.
CLIENT_ID_CLAIMS = ("client_id", "azp")


class TokenVerifier:
    """Verifies bearer JWTs for one issuer and audience (or, explicitly, tokens without one)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str, allow_no_audience: bool = False,
                 client_id: str = "") -> None:
        self.issuer = issuer
        self.audience = audience
        self.allow_no_audience = allow_no_audience
        self.client_id = client_id
        # PyJWT's own refetch-on-miss is switched off (cooldown counted from the last fetch would
        # refuse a key rotated just after start-up); _refetch_for() applies ours.
        self._jwks = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=3600, timeout=5)
        self._lock = threading.Lock()
        self._last_refetch = -float(REFETCH_COOLDOWN_SECONDS)

    def verify(self, authorization: str | None) -> Identity:
        """The identity in an ``Authorization: Bearer`` header value; raises 401 or 503."""
        token = bearer_token(authorization)
        key = self._signing_key(token)
        try:
            audience = self._expected_audience(token)
            required = ["exp", "iat", "iss", "sub"] if audience is None else ["exp", "iat", "iss", "aud", "sub"]
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=list(ALGORITHMS), audience=audience, issuer=self.issuer,
                leeway=LEEWAY_SECONDS, options={"require": required},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(_reason(exc)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise AuthenticationError("The bearer token has an empty subject.")
        if self.client_id and any(claims.get(c, self.client_id) != self.client_id for c in CLIENT_ID_CLAIMS):
            raise AuthenticationError("The bearer token was issued to another client.")
        return Identity(subject=subject)

    def _expected_audience(self, token: str) -> str | None:
        """The audience to check: ours, or none for a token without ``aud`` when that is allowed.

        ``None`` makes PyJWT refuse any token that does carry an ``aud``, so with no
        ``AUTH_AUDIENCE`` configured, an audience is never accepted unchecked.
        """
        if not self.allow_no_audience:
            return self.audience
        unverified = jwt.decode(token, options={"verify_signature": False})
        return (self.audience or None) if unverified.get("aud") else None

    def _signing_key(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("The bearer token is malformed.") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthenticationError("The bearer token uses an algorithm that is not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("The bearer token names no signing key (kid).")
        try:
            key = self._jwks.match_kid(self._jwks.get_signing_keys(), kid) or self._refetch_for(kid)
        except jwt.PyJWKClientConnectionError:
            raise ServiceUnavailableError(
                "The identity provider's signing keys cannot be fetched right now; try again shortly.",
                code="jwks_unavailable", retry_after=5,
            ) from None
        except jwt.PyJWTError:
            raise AuthenticationError("The identity provider's key set is unusable.") from None
        if key is None:
            raise AuthenticationError("The bearer token is signed with an unknown key.")
        return key

    def _refetch_for(self, kid: str) -> jwt.PyJWK | None:
        # An unknown kid may be a freshly rotated key: refetch, but at most once per cooldown
        # however many forged kids arrive (counted from the last refetch, not the last fetch).
        with self._lock:
            now = time.monotonic()
            if now - self._last_refetch < REFETCH_COOLDOWN_SECONDS:
                return None
            self._last_refetch = now
            return self._jwks.match_kid(self._jwks.get_signing_keys(refresh=True), kid)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 when missing or malformed."""
    if not authorization:
        raise AuthenticationError("Missing bearer token: send Authorization: Bearer <ID token>.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("The Authorization header must be: Bearer <ID token>.")
    return token.strip()


def _reason(exc: Exception) -> str:
    for cls, reason in _REASONS:
        if isinstance(exc, cls):
            return reason
    return "The bearer token is invalid."
