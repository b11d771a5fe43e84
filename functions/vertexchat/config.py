"""Every setting vertexchat reads, read and validated in one place.

:func:`load` builds one frozen :class:`Settings` from a mapping (``os.environ`` in
production, a plain dict in tests). A bad value raises :class:`ConfigError` naming the
variable, so a misconfigured deployment fails at start-up instead of on a user's request.
Nothing else in the package reads the environment for its own settings.

``ENV_VARS`` lists every variable with its default and meaning; the README table and the
infrastructure tests are checked against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
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
    "STREAM_HEARTBEAT_SECONDS": ("15", "Interval of SSE comment heartbeats while the upstream is silent."),
    "UPSTREAM_CONNECT_TIMEOUT_SECONDS": ("10", "Connect timeout to Vertex."),
    "UPSTREAM_READ_TIMEOUT_SECONDS": ("600", "Longest silence allowed between upstream bytes "
                                             "(and before the first one) before the call is abandoned."),
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
    "LOG_LEVEL": ("INFO", "Lowest severity written to the log."),
    "K_SERVICE": ("set by Cloud Run", "Read only to know the code runs deployed; never set it by hand."),
    "PORT": ("3284", "Port of the local stack (`make run`); Cloud Run sets its own."),
}

_REGION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_DATABASE = re.compile(r"^[a-z][a-z0-9-]{2,61}[a-z0-9]$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated configuration of one function instance."""

    region: str = "global"
    project_id: str | None = None
    vertex_endpoint: str = "https://aiplatform.googleapis.com"
    default_max_tokens: int = 4096
    heartbeat_seconds: float = 15.0
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
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
    if deployed and env.get("FIRESTORE_EMULATOR_HOST", "").strip():
        raise ConfigError(
            "FIRESTORE_EMULATOR_HOST is for local emulation only and K_SERVICE says this runs on Cloud Run; "
            "unset FIRESTORE_EMULATOR_HOST."
        )
    if simulator and deployed:
        raise ConfigError(
            "VERTEXCHAT_SIMULATOR is for local emulation only and K_SERVICE says this runs on Cloud Run; "
            "unset VERTEXCHAT_SIMULATOR."
        )
    project = (env.get("ANTHROPIC_VERTEX_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT") or "").strip()
    return Settings(
        region=region,
        project_id=project or None,
        vertex_endpoint=_get(env, "VERTEX_ENDPOINT", default_endpoint(region), _endpoint),
        default_max_tokens=_get(env, "DEFAULT_MAX_TOKENS", 4096, _int_range(1, 1_000_000)),
        heartbeat_seconds=_get(env, "STREAM_HEARTBEAT_SECONDS", 15.0, _float_range(0.05, 300)),
        connect_timeout=_get(env, "UPSTREAM_CONNECT_TIMEOUT_SECONDS", 10.0, _float_range(0.1, 300)),
        read_timeout=_get(env, "UPSTREAM_READ_TIMEOUT_SECONDS", 600.0, _float_range(0.1, 3600)),
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
