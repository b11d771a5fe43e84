"""Every setting vertexchat reads, read and validated in one place.

:func:`load` builds one frozen :class:`Settings` from a mapping (``os.environ`` in
production, a plain dict in tests). A bad value raises :class:`ConfigError` naming the
variable, so a misconfigured deployment fails at start-up instead of on a user's request.
Nothing else in the package reads the environment for its own settings.

``ENV_VARS`` lists every variable with its default and meaning; the README table and the
infrastructure tests are checked against it.

Long because the settings table documents every variable next to the code that reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value vertexchat cannot run with."""


# name -> (default shown to users, description). Order is the README's order.
ENV_VARS: dict[str, tuple[str, str]] = {
    "CLOUD_ML_REGION": ("global", "Vertex AI location that serves Claude (`global`, `us`, `eu`, or a region)."),
    "ANTHROPIC_VERTEX_PROJECT_ID": ("", "Project billed for Vertex AI; else `GOOGLE_CLOUD_PROJECT`, "
                                        "else the project of the ambient credentials."),
    "GOOGLE_CLOUD_PROJECT": ("", "Fallback project id (set by Cloud Run and most tooling)."),
    "VERTEX_ENDPOINT": ("derived from the region", "`scheme://host[:port]` of the Vertex API, no path. "
                                                   "For private endpoints and the local simulator."),
    "DEFAULT_MAX_TOKENS": ("4096", "`max_tokens` sent to Claude when the request gives none."),
    "PROMPT_CACHING": ("auto", "`auto`: place Claude prompt-cache breakpoints for clients that mark none (see "
                               "Prompt caching); `off`: only the client's own `cache_control`."),
    "PROMPT_CACHE_TTL": ("5m", "Lifetime of the automatic cache entries: `5m` or `1h` (1h writes cost 2x, not 1.25x)."),
    "STREAM_HEARTBEAT_SECONDS": ("15", "Interval of SSE comment heartbeats while the upstream is silent."),
    "UPSTREAM_CONNECT_TIMEOUT_SECONDS": ("10", "Connect timeout to Vertex."),
    "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS": ("120", "Longest wait for a stream's response headers from Vertex, "
                                                   "and again for its first event."),
    "UPSTREAM_IDLE_TIMEOUT_SECONDS": ("300", "Longest silence between stream events before the stream is ended "
                                             "with an in-band error (heartbeats keep the client meanwhile)."),
    "UPSTREAM_TOTAL_TIMEOUT_SECONDS": ("3540", "Longest a single Vertex call may take, streamed or not "
                                               "(keep below the function timeout)."),
    "UPSTREAM_DEADLINE_SECONDS": ("30", "Time budget for all attempts before the first byte reaches the client "
                                        "(retries and failover)."),
    "UPSTREAM_MAX_ATTEMPTS": ("4", "Most attempts per request across retries and failover."),
    "VERTEX_FALLBACK_REGIONS": ("", "Comma-separated Vertex locations tried, in order, after a 429/529/5xx in "
                                    "`CLOUD_ML_REGION`."),
    "BREAKER_FAILURES": ("5", "Requests failing with an outage (5xx, unreachable, timeout; never a 429) at one "
                              "(location, model) that open its circuit."),
    "BREAKER_WINDOW_SECONDS": ("60", "Window in which those failures must fall."),
    "BREAKER_COOLDOWN_SECONDS": ("30", "Longest an open circuit is skipped before one probe is let through "
                                       "(less if Vertex's Retry-After asks less)."),
    "VERTEX_MODELS": ("", "Comma-separated model ids or names to offer (`claude-sonnet-4-5` keeps every version; "
                          "`x@v` keeps that version only); empty offers every Claude model Vertex lists."),
    "MODEL_ALIASES": ("", "Extra model ids as `alias=target,...`; the target is any id the catalog resolves, "
                          "e.g. `fast=claude-haiku-4-5`."),
    "MODELS_CACHE_SECONDS": ("600", "How long an instance reuses the Vertex model list before listing again."),
    "MAX_REQUEST_BYTES": ("20971520", "Largest accepted request body (20 MiB); larger bodies get 413 before parsing."),
    "VERTEXCHAT_SIMULATOR": ("false", "Local emulation only: the upstream is the Vertex simulator; responses "
                                      "carry `X-Upstream: simulator`. Refused when `K_SERVICE` is set."),
    "SESSION_TTL_DAYS": ("30", "Days a session and its messages are kept after its last activity "
                               "(Firestore TTL on `expire_at`); 0 keeps them forever."),
    "FIRESTORE_DATABASE": ("(default)", "Firestore database (native mode) that holds the sessions."),
    "FIRESTORE_TIMEOUT_SECONDS": ("10", "Timeout of each Firestore call, retries of transient errors included."),
    "FIRESTORE_EMULATOR_HOST": ("", "Local emulation only: `host:port` of the Firestore emulator "
                                    "(read by the Firestore client). Refused when `K_SERVICE` is set."),
    "AUTH_MODE": ("none locally; required when deployed", "`firebase` (Firebase Authentication ID tokens), "
                  "`oidc` (any OIDC provider) or `none` (local emulation only; refused when `K_SERVICE` is set)."),
    "AUTH_ISSUER": ("", "`oidc`: the expected `iss`."),
    "AUTH_AUDIENCE": ("", "`oidc`: the expected `aud`. `firebase`: defaults to the project id."),
    "AUTH_JWKS_URL": ("", "`oidc`: the issuer's JWKS URL."),
    "AUTH_ALLOW_NO_AUDIENCE": ("false", "`oidc`: also accept tokens of `AUTH_ISSUER` that carry no `aud` (WorkOS "
                                        "AuthKit access tokens have none). Needs `AUTH_CLIENT_ID`. The issuer is still "
                                        "checked, and a token that has an `aud` must still match `AUTH_AUDIENCE`."),
    "AUTH_CLIENT_ID": ("", "`oidc`: your application's client id at the issuer; a token's `client_id` or `azp` "
                           "claim, when it has one, must equal it. Required with `AUTH_ALLOW_NO_AUDIENCE`."),
    "AUTH_FIREBASE_PROJECT": ("the project id", "`firebase`: the Firebase project whose ID tokens are accepted."),
    "CORS_ALLOWED_ORIGINS": ("", "Comma-separated origins allowed to call from a browser: exact "
                                 "(`https://app.example.com`) or one wildcard level (`https://*.example.com`)."),
    "MAX_IMAGE_BYTES": ("5242880", "Largest image fetched for an http(s) `image_url` (5 MiB)."),
    "IMAGE_FETCH_TIMEOUT_SECONDS": ("10", "Timeout of each step of an image fetch."),
    "IMAGE_FETCH_ALLOW_HOSTS": ("", "Tests only: hosts exempt from the private-address check. "
                                    "Refused when `K_SERVICE` is set."),
    "HEALTH_MODEL": ("claude-sonnet-4-5", "Model whose `count-tokens` endpoint the health check calls "
                                          "(any id the catalog resolves)."),
    "HEALTH_CACHE_SECONDS": ("30", "How long a deep health result is reused, so probe floods cannot hammer "
                                   "Vertex or Firestore."),
    "LOG_CONTENT": ("false", "Debugging only: log prompt and completion text."),
    "LOG_LEVEL": ("INFO", "Lowest severity written to the log."),
    "K_SERVICE": ("set by Cloud Run", "Read only to know the code runs deployed; never set it by hand."),
    "PORT": ("3284", "Port of the local stack (`make run`); Cloud Run sets its own."),
}

_REGION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_NONE: tuple[str, ...] = ()
_DATABASE = re.compile(r"^[a-z][a-z0-9-]{2,61}[a-z0-9]$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration of one function instance."""

    region: str = "global"
    project_id: str | None = None
    vertex_endpoint: str = "https://aiplatform.googleapis.com"
    default_max_tokens: int = 4096
    prompt_caching: str = "auto"
    prompt_cache_ttl: str = "5m"
    heartbeat_seconds: float = 15.0
    connect_timeout: float = 10.0
    first_byte_timeout: float = 120.0
    idle_timeout: float = 300.0
    total_timeout: float = 3540.0
    upstream_deadline: float = 30.0
    max_attempts: int = 4
    fallback_regions: tuple[str, ...] = ()
    breaker_failures: int = 5
    breaker_window: float = 60.0
    breaker_cooldown: float = 30.0
    # Set only when VERTEX_ENDPOINT is: then every location (fallbacks too) is reached through it.
    endpoint_override: str | None = None
    auth_mode: str = "none"
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    # oidc: tokens without `aud` are accepted (explicitly configured; issuer and client id still pinned).
    auth_allow_no_audience: bool = False
    auth_client_id: str = ""
    cors_origins: tuple[str, ...] = ()
    max_image_bytes: int = 5 * 1024 * 1024
    image_fetch_timeout: float = 10.0
    image_allow_hosts: frozenset[str] = frozenset()
    health_cache_seconds: float = 30.0
    health_model: str = "claude-sonnet-4-5"
    log_content: bool = False
    max_request_bytes: int = 20 * 1024 * 1024
    vertex_models: tuple[str, ...] = ()
    model_aliases: tuple[tuple[str, str], ...] = ()
    models_cache_seconds: float = 600.0
    simulator: bool = False
    log_level: str = "INFO"
    deployed: bool = False
    port: int = 3284
    session_ttl_days: int = 30
    firestore_database: str = "(default)"
    firestore_timeout: float = 10.0


def default_endpoint(region: str) -> str:
    """The public Vertex host for a location (``global`` has no region prefix)."""
    if region == "global":
        return "https://aiplatform.googleapis.com"
    if region in ("us", "eu"):
        return f"https://aiplatform.{region}.rep.googleapis.com"
    return f"https://{region}-aiplatform.googleapis.com"


def load(env: Mapping[str, str]) -> Settings:
    """Read and validate every setting from ``env``; raise :class:`ConfigError` on a bad value."""
    region = _get(env, "CLOUD_ML_REGION", "global", _region)
    deployed = bool(env.get("K_SERVICE", "").strip())
    simulator = _get(env, "VERTEXCHAT_SIMULATOR", False, _bool)
    _refuse_local_only(env, deployed)
    project = (env.get("ANTHROPIC_VERTEX_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT") or "").strip()
    return Settings(
        region=region,
        project_id=project or None,
        vertex_endpoint=_get(env, "VERTEX_ENDPOINT", default_endpoint(region), _endpoint),
        default_max_tokens=_get(env, "DEFAULT_MAX_TOKENS", 4096, _int_range(1, 1_000_000)),
        prompt_caching=_get(env, "PROMPT_CACHING", "auto", _choice_lower(("auto", "off"))),
        prompt_cache_ttl=_get(env, "PROMPT_CACHE_TTL", "5m", _choice_lower(("5m", "1h"))),
        heartbeat_seconds=_get(env, "STREAM_HEARTBEAT_SECONDS", 15.0, _float_range(0.05, 300)),
        connect_timeout=_get(env, "UPSTREAM_CONNECT_TIMEOUT_SECONDS", 10.0, _float_range(0.1, 300)),
        first_byte_timeout=_get(env, "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS", 120.0, _float_range(0.1, 3600)),
        idle_timeout=_get(env, "UPSTREAM_IDLE_TIMEOUT_SECONDS", 300.0, _float_range(0.1, 3600)),
        total_timeout=_get(env, "UPSTREAM_TOTAL_TIMEOUT_SECONDS", 3540.0, _float_range(1, 3600)),
        upstream_deadline=_get(env, "UPSTREAM_DEADLINE_SECONDS", 30.0, _float_range(0, 600)),
        max_attempts=_get(env, "UPSTREAM_MAX_ATTEMPTS", 4, _int_range(1, 10)),
        fallback_regions=_get(env, "VERTEX_FALLBACK_REGIONS", _NONE, _regions),
        breaker_failures=_get(env, "BREAKER_FAILURES", 5, _int_range(1, 1000)),
        breaker_window=_get(env, "BREAKER_WINDOW_SECONDS", 60.0, _float_range(1, 3600)),
        breaker_cooldown=_get(env, "BREAKER_COOLDOWN_SECONDS", 30.0, _float_range(0.1, 3600)),
        endpoint_override=_get(env, "VERTEX_ENDPOINT", None, _endpoint),
        **_auth(env, deployed, project),
        cors_origins=_get(env, "CORS_ALLOWED_ORIGINS", _NONE, _origins),
        max_image_bytes=_get(env, "MAX_IMAGE_BYTES", 5 * 1024 * 1024, _int_range(1024, 20 * 1024 * 1024)),
        image_fetch_timeout=_get(env, "IMAGE_FETCH_TIMEOUT_SECONDS", 10.0, _float_range(0.1, 120)),
        image_allow_hosts=frozenset(_get(env, "IMAGE_FETCH_ALLOW_HOSTS", _NONE, _hosts)),
        health_cache_seconds=_get(env, "HEALTH_CACHE_SECONDS", 30.0, _float_range(0, 3600)),
        health_model=_get(env, "HEALTH_MODEL", "claude-sonnet-4-5", _model_id),
        log_content=_get(env, "LOG_CONTENT", False, _bool),
        max_request_bytes=_get(env, "MAX_REQUEST_BYTES", 20 * 1024 * 1024, _int_range(1024, 32 * 1024 * 1024)),
        vertex_models=_get(env, "VERTEX_MODELS", (), _model_ids),
        model_aliases=_get(env, "MODEL_ALIASES", (), _aliases),
        models_cache_seconds=_get(env, "MODELS_CACHE_SECONDS", 600.0, _float_range(0, 86_400)),
        simulator=simulator,
        log_level=_get(env, "LOG_LEVEL", "INFO", _choice(_LOG_LEVELS)),
        deployed=deployed,
        port=_get(env, "PORT", 3284, _int_range(1, 65535)),
        session_ttl_days=_get(env, "SESSION_TTL_DAYS", 30, _int_range(0, 36500)),
        firestore_database=_get(env, "FIRESTORE_DATABASE", "(default)", _database),
        firestore_timeout=_get(env, "FIRESTORE_TIMEOUT_SECONDS", 10.0, _float_range(0.1, 300)),
    )


# Settings that exist for local emulation and tests only; a deployment refuses to start with them.
LOCAL_ONLY = ("VERTEXCHAT_SIMULATOR", "FIRESTORE_EMULATOR_HOST", "IMAGE_FETCH_ALLOW_HOSTS")
AUTH_MODES = ("none", "firebase", "oidc")
FIREBASE_JWKS_URL = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"


def _refuse_local_only(env: Mapping[str, str], deployed: bool) -> None:
    if not deployed:
        return
    for name in LOCAL_ONLY:
        value = env.get(name, "").strip()
        if value and value.lower() not in ("0", "false", "no", "off"):
            raise ConfigError(
                f"{name} is for local emulation only and K_SERVICE says this runs on Cloud Run; unset {name}."
            )


def _auth(env: Mapping[str, str], deployed: bool, project: str) -> dict[str, Any]:
    """The auth fields; an open deployment is impossible, a half-configured one fails here."""
    mode = _get(env, "AUTH_MODE", "", _choice_lower(AUTH_MODES))
    if not mode:
        if deployed:
            raise ConfigError("AUTH_MODE must be set when deployed (K_SERVICE is set): firebase or oidc.")
        mode = "none"
    if mode == "none" and deployed:
        raise ConfigError("AUTH_MODE=none is for local emulation only and K_SERVICE says this runs on Cloud Run.")
    if mode == "oidc":
        return _oidc(env)
    if mode == "firebase":
        if _get(env, "AUTH_ALLOW_NO_AUDIENCE", False, _bool) or env.get("AUTH_CLIENT_ID", "").strip():
            raise ConfigError("AUTH_ALLOW_NO_AUDIENCE and AUTH_CLIENT_ID are for AUTH_MODE=oidc; Firebase ID "
                              "tokens always carry the project as their aud.")
        firebase_project = env.get("AUTH_FIREBASE_PROJECT", "").strip() or project
        if not firebase_project:
            raise ConfigError("AUTH_MODE=firebase needs AUTH_FIREBASE_PROJECT or GOOGLE_CLOUD_PROJECT.")
        return {"auth_mode": mode, "auth_issuer": f"https://securetoken.google.com/{firebase_project}",
                "auth_audience": env.get("AUTH_AUDIENCE", "").strip() or firebase_project,
                "auth_jwks_url": FIREBASE_JWKS_URL}
    return {"auth_mode": "none", "auth_issuer": "", "auth_audience": "", "auth_jwks_url": ""}


def _oidc(env: Mapping[str, str]) -> dict[str, Any]:
    """``AUTH_MODE=oidc``: issuer and keys always; an audience, or the explicit no-audience opt-in."""
    names = ("AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_JWKS_URL", "AUTH_CLIENT_ID")
    values = {name: env.get(name, "").strip() for name in names}
    no_audience = _get(env, "AUTH_ALLOW_NO_AUDIENCE", False, _bool)
    # Without an audience to check, the client id is what ties a token to this application.
    needed = ("AUTH_ISSUER", "AUTH_JWKS_URL", "AUTH_CLIENT_ID" if no_audience else "AUTH_AUDIENCE")
    missing = [name for name in needed if not values[name]]
    if missing:
        hint = ("" if no_audience else " (or, for an issuer whose tokens carry no aud, "
                "AUTH_ALLOW_NO_AUDIENCE=true with AUTH_CLIENT_ID)")
        raise ConfigError(f"AUTH_MODE=oidc needs {', '.join(missing)}{hint}.")
    _get(env, "AUTH_JWKS_URL", "", _url)
    if any(ch.isspace() for ch in values["AUTH_CLIENT_ID"]):
        raise ConfigError("AUTH_CLIENT_ID must not contain whitespace.")
    return {"auth_mode": "oidc", "auth_issuer": values["AUTH_ISSUER"], "auth_audience": values["AUTH_AUDIENCE"],
            "auth_jwks_url": values["AUTH_JWKS_URL"], "auth_allow_no_audience": no_audience,
            "auth_client_id": values["AUTH_CLIENT_ID"]}


def _get(env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T]) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not valid: {exc}") from None


def _region(raw: str) -> str:
    if not _REGION.match(raw):
        raise ValueError("expected a Vertex location such as global, us, eu or us-east5")
    return raw


def _endpoint(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected scheme://host[:port], e.g. https://aiplatform.googleapis.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("give scheme://host[:port] only; the version path is added by vertexchat")
    _ = parts.port  # raises ValueError for a malformed port
    return raw.rstrip("/")


def _model_id(raw: str) -> str:
    if not _MODEL_ID.match(raw):
        raise ValueError("expected a model id such as claude-sonnet-4-5 or claude-sonnet-4-5@20250929")
    return raw


def _model_ids(raw: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    bad = [i for i in ids if not _MODEL_ID.match(i)]
    if bad or not ids:
        raise ValueError(f"expected comma-separated model ids such as claude-sonnet-4-5@20250929 (bad: {bad})")
    return ids


def _aliases(raw: str) -> tuple[tuple[str, str], ...]:
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        alias, sep, target = (s.strip() for s in item.partition("="))
        if not sep or not _MODEL_ID.match(alias) or not _MODEL_ID.match(target):
            raise ValueError(f"expected alias=target pairs separated by commas, got {item!r}")
        if alias == target or alias in pairs:
            raise ValueError(f"alias {alias!r} is defined twice or points at itself")
        pairs[alias] = target
    return tuple(pairs.items())


def _database(raw: str) -> str:
    if raw != "(default)" and not _DATABASE.match(raw):
        raise ValueError("expected (default) or a database id of 4-63 lowercase letters, digits and hyphens")
    return raw


def _regions(raw: str) -> tuple[str, ...]:
    return tuple(_region(item.strip()) for item in raw.split(",") if item.strip())


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http(s) URL")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host or parts.path or parts.query:
            raise ValueError(f"{item!r} is not an origin (scheme://host[:port], no path)")
        if "*" in item and not (host.startswith("*.") and "*" not in host[2:] and host.count(".") >= 2):
            raise ValueError(f"{item!r}: a wildcard must be one leading label of a domain, like https://*.example.com")
        origins.append(item.rstrip("/"))
    return tuple(origins)


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def _choice_lower(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return raw.lower()

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return value

    return parse


def _float_range(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return value

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.upper() not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return raw.upper()

    return parse
