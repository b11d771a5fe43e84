"""A fake GCE/Cloud Run metadata server, so unpatched google-auth finds ambient credentials locally.

google-auth reads GCE_METADATA_HOST and GCE_METADATA_IP when it is imported; a process started with
both set to this server's host:port gets compute-engine credentials from `google.auth.default()`.
The paths and headers below are the ones google-auth 2.x requests (google/auth/compute_engine/
_metadata.py): a ping of `/`, then `project/project-id`, `instance/service-accounts/default/?recursive=true`
and `instance/service-accounts/default/token`, all with `Metadata-Flavor: Google`.

Tests steer it through `/_meta/` (over HTTP, since the process under test is often another process)
or through the `MetadataServer` methods, which share one implementation.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from local._http import JsonHandler, LocalService, LoopbackServer, run_guarded, serve_cli
from local._keep import KEEP, Keep

DEFAULT_PROJECT_ID = "vertexchat-local"
DEFAULT_EMAIL = "vertexchat-local@vertexchat-local.iam.gserviceaccount.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
NUMERIC_PROJECT_ID = "123456789012"
MAX_RECORDED_REQUESTS = 10_000

FLAVOR = {"Metadata-Flavor": "Google"}
METADATA_ROOT = "/computeMetadata/v1/"
TEXT = "application/text"


@dataclass
class MetadataConfig:
    """What the server answers; `token_status` set to an HTTP status makes the token endpoint fail."""

    project_id: str = DEFAULT_PROJECT_ID
    email: str = DEFAULT_EMAIL
    expires_in: int = 3600
    token_status: int | None = None

    def updated(self, changes: Mapping[str, Any]) -> MetadataConfig:
        """Return a copy with `changes` applied, rejecting unknown keys and wrong types."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        merged = {**self.__dict__, **changes}
        config = MetadataConfig(**merged)
        config.check()
        return config

    def check(self) -> None:
        if not isinstance(self.project_id, str) or not isinstance(self.email, str):
            raise TypeError("project_id and email must be strings")
        if not isinstance(self.expires_in, int) or isinstance(self.expires_in, bool):
            raise TypeError("expires_in must be an integer")
        status = self.token_status
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError("token_status must be null or an HTTP error status (400-599)")


@dataclass
class MetadataState:
    """Everything tests observe or steer; one lock guards it because handlers run on many threads."""

    defaults: MetadataConfig
    config: MetadataConfig = field(init=False)
    tokens_issued: list[str] = field(default_factory=list)
    token_requests: int = 0
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED_REQUESTS))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.config = self.defaults

    def record(self, method: str, path: str) -> None:
        with self.lock:
            self.requests.append({"method": method, "path": path, "time": time.time()})

    def issue_token(self) -> tuple[MetadataConfig, str | None]:
        """Count a token request and mint a token unless the token endpoint is configured to fail."""
        with self.lock:
            self.token_requests += 1
            if self.config.token_status is not None:
                return self.config, None
            token = f"fake-token-{len(self.tokens_issued) + 1}-{secrets.token_hex(8)}"
            self.tokens_issued.append(token)
            return self.config, token

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.config = self.config.updated(changes)
            return dict(self.config.__dict__)

    def reset(self) -> None:
        with self.lock:
            self.config = self.defaults
            self.tokens_issued.clear()
            self.token_requests = 0
            self.requests.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "tokens_issued": list(self.tokens_issued),
                "token_requests": self.token_requests,
                "requests": [dict(entry) for entry in self.requests],
                "config": dict(self.config.__dict__),
            }


def fake_id_token(config: MetadataConfig, audience: str) -> str:
    """An unsigned-looking JWT with the claims a Google-issued identity token carries."""
    now = int(time.time())
    header = {"alg": "RS256", "kid": "fake-local-key", "typ": "JWT"}
    claims = {
        "aud": audience,
        "azp": config.email,
        "email": config.email,
        "email_verified": True,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": NUMERIC_PROJECT_ID,
    }
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), b"fake-signature"]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in parts)


class MetadataHandler(JsonHandler):
    """Routes `/`, `/computeMetadata/v1/...` and the `/_meta/` control API."""

    server_version = "Metadata Server for VM"

    @property
    def state(self) -> MetadataState:
        return cast("LoopbackServer[MetadataState]", self.server).app

    def common_headers(self) -> dict[str, str]:
        return dict(FLAVOR)

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        body = self.read_body()
        if self.route.startswith("/_meta/"):
            self.control(body)
            return
        self.state.record(self.command, self.path)
        if self.route == "/":
            # The detection ping: google-auth only checks the status and the Metadata-Flavor header.
            self.send_text(200, "computeMetadata/\n", TEXT)
        elif not self.route.startswith(METADATA_ROOT):
            self.send_text(404, "not found\n")
        elif self.headers.get("Metadata-Flavor") != "Google":
            self.send_text(403, "Missing required header: Metadata-Flavor: Google\n")
        else:
            self.metadata(self.route.removeprefix(METADATA_ROOT))

    def metadata(self, path: str) -> None:
        config = self.state.config
        if path.startswith("instance/service-accounts/"):
            self.service_account(config, path.removeprefix("instance/service-accounts/"))
            return
        values = {
            "project/project-id": config.project_id,
            "project/numeric-project-id": NUMERIC_PROJECT_ID,
            "universe/universe-domain": "googleapis.com",
            "instance/region": f"projects/{NUMERIC_PROJECT_ID}/regions/us-central1",
            "instance/zone": f"projects/{NUMERIC_PROJECT_ID}/zones/us-central1-1",
        }
        if path in values:
            self.send_text(200, values[path], TEXT)
        else:
            self.send_text(404, f"metadata path not found: {path}\n")

    def service_account(self, config: MetadataConfig, rest: str) -> None:
        account, _, leaf = rest.partition("/")
        if account not in ("default", config.email):
            self.send_text(404, f"service account not found: {account}\n")
            return
        handlers: dict[str, Callable[[MetadataConfig], None]] = {
            "": self.account_info,
            "email": lambda c: self.send_text(200, c.email, TEXT),
            "scopes": lambda c: self.send_text(200, CLOUD_PLATFORM_SCOPE + "\n", TEXT),
            "aliases": lambda c: self.send_text(200, "default\n", TEXT),
            "token": lambda c: self.token(),
            "identity": self.identity,
        }
        handler = handlers.get(leaf)
        if handler is None:
            self.send_text(404, f"metadata path not found: {leaf}\n")
        else:
            handler(config)

    def account_info(self, config: MetadataConfig) -> None:
        if self.query.get("recursive") == "true":
            info = {"aliases": ["default"], "email": config.email, "scopes": [CLOUD_PLATFORM_SCOPE]}
            self.send_json(200, info)
        else:
            self.send_text(200, "aliases\nemail\nidentity\nscopes\ntoken\n", TEXT)

    def token(self) -> None:
        config, token = self.state.issue_token()
        if token is None:
            self.send_text(config.token_status or 500, "fake metadata server: token endpoint configured to fail\n")
            return
        self.send_json(200, {"access_token": token, "expires_in": config.expires_in, "token_type": "Bearer"})

    def identity(self, config: MetadataConfig) -> None:
        audience = self.query.get("audience")
        if not audience:
            self.send_text(400, "non-empty audience parameter required\n")
        else:
            self.send_text(200, fake_id_token(config, audience), TEXT)

    def control(self, body: bytes) -> None:
        if self.command == "GET" and self.route == "/_meta/state":
            self.send_json(200, self.state.snapshot())
        elif self.command == "POST" and self.route == "/_meta/reset":
            self.state.reset()
            self.send_json(200, {"ok": True})
        elif self.command == "POST" and self.route == "/_meta/config":
            self.configure_from(body)
        else:
            self.send_json(404, {"error": f"no control route {self.command} {self.route}"})

    def configure_from(self, body: bytes) -> None:
        try:
            changes = json.loads(body or b"{}")
            if not isinstance(changes, dict):
                raise TypeError("config body must be a JSON object")
            self.send_json(200, self.state.configure(changes))
        except (ValueError, TypeError) as error:
            self.send_json(400, {"error": str(error)})


class MetadataServer(LocalService[MetadataState]):
    """The fake metadata server as a Python object: start it, point google-auth at `host_port`, stop it."""

    name = "metadata server"

    def __init__(
        self, *, project_id: str = DEFAULT_PROJECT_ID, email: str = DEFAULT_EMAIL, expires_in: int = 3600
    ) -> None:
        super().__init__()
        defaults = MetadataConfig(project_id=project_id, email=email, expires_in=expires_in)
        defaults.check()
        self.state = MetadataState(defaults)

    def bind(self, host: str, port: int) -> LoopbackServer[MetadataState]:
        return LoopbackServer((host, port), MetadataHandler, self.state)

    @property
    def environ(self) -> dict[str, str]:
        """Environment variables that point google-auth (in a new process) at this server."""
        return {"GCE_METADATA_HOST": self.host_port, "GCE_METADATA_IP": self.host_port}

    @property
    def issued_tokens(self) -> list[str]:
        with self.state.lock:
            return list(self.state.tokens_issued)

    def snapshot(self) -> dict[str, Any]:
        """The same document `GET /_meta/state` returns."""
        return self.state.snapshot()

    def configure(
        self,
        *,
        token_status: int | Keep | None = KEEP,
        expires_in: int | Keep = KEEP,
        project_id: str | Keep = KEEP,
        email: str | Keep = KEEP,
    ) -> dict[str, Any]:
        """Change behaviour at runtime, exactly like `POST /_meta/config`; returns the new config."""
        given = {"token_status": token_status, "expires_in": expires_in, "project_id": project_id, "email": email}
        return self.state.configure({key: value for key, value in given.items() if value is not KEEP})

    def reset(self) -> None:
        """Forget issued tokens and recorded requests and restore the constructor's config."""
        self.state.reset()


def main(argv: list[str] | None = None) -> int:
    """CLI: serve until SIGTERM/SIGINT, announcing the bound address on one stdout line."""
    parser = argparse.ArgumentParser(prog="python -m local.metadata_server", description="Fake GCE metadata server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--project-id", default=DEFAULT_PROJECT_ID)
    parser.add_argument("--email", default=DEFAULT_EMAIL)
    parser.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args(argv)

    def serve() -> int:
        config = MetadataConfig(project_id=args.project_id, email=args.email, expires_in=args.expires_in)
        server = LoopbackServer((args.host, args.port), MetadataHandler, MetadataState(config))
        return serve_cli(server, f"metadata server listening on {server.server_name}:{server.server_port}")

    return run_guarded("metadata server", serve)


if __name__ == "__main__":
    raise SystemExit(main())
