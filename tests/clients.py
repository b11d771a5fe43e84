"""Real Node clients for the tests: the Anthropic SDK, the Vercel AI SDK and the Claude Code CLI.

The clients live in tests/node (pinned in its package-lock.json; `make node-deps` installs them).
Each driver script runs one scenario against a base URL and prints one JSON line, which these helpers
return parsed. A failure the client saw (an HTTP error, an in-stream error) is part of that result
(``{"ok": False, "error": {...}}``); a helper raises ``ClientRunError`` only when the client could not
report at all (no JSON, a timeout, a usage error).

    result = clients.anthropic_sdk("stream", clients.DriverOptions(base_url, token, model="claude-sonnet-4-5"))
    assert result["ok"] and result["text"] == "..."
    assert [r["status"] for r in result["requests"]] == [200]

    run = clients.claude_code("say hi", clients.ClaudeCodeOptions(base_url, token, model="claude-haiku-4-5"))
    assert run.returncode == 0 and run.output["is_error"] is False

Every run gets a fresh temporary HOME (and Claude Code its own CLAUDE_CONFIG_DIR and working
directory), and only the variables set here reach the child: no ANTHROPIC_* or OPENAI_* variable
of the test process leaks in.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_BIN = NODE_DIR / "node_modules" / ".bin"
CLAUDE = NODE_BIN / "claude"

# Claude Code's documented switches for "no traffic but the API": CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
# alone covers the others (auto-updater, /bug, error reporting, telemetry); each is also set so that a
# version which splits them keeps working. Measured with 2.1.197: with them, the only connections are to
# ANTHROPIC_BASE_URL (a HEAD of its root, then POST /v1/messages?beta=true); without them it also
# looks up api.anthropic.com.
CLAUDE_CODE_OFFLINE_ENV: Mapping[str, str] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_BUG_COMMAND": "1",
}


class ClientRunError(RuntimeError):
    """The client did not produce a result to assert on (no JSON output, timeout, usage error)."""


@dataclass(frozen=True)
class DriverOptions:
    """Settings for anthropic_sdk.mjs / ai_sdk.mjs; None leaves the driver's default.

    auth (Anthropic SDK only): "api-key" and "auth-token" both go out as Authorization: Bearer with
    the 1.x SDK; "x-api-key" sends an X-Api-Key header as Claude Code and the 0.x SDKs do.
    """

    base_url: str
    token: str
    model: str | None = None
    bad_model: str | None = None
    max_retries: int | None = None
    auth: Literal["api-key", "auth-token", "x-api-key"] | None = None
    prompt: str | None = None
    image: Path | None = None
    raw: bool = False

    def env(self) -> dict[str, str]:
        values = {
            "VERTEXCHAT_BASE_URL": self.base_url,
            "VERTEXCHAT_TOKEN": self.token,
            "VERTEXCHAT_MODEL": self.model,
            "VERTEXCHAT_BAD_MODEL": self.bad_model,
            "VERTEXCHAT_MAX_RETRIES": None if self.max_retries is None else str(self.max_retries),
            "VERTEXCHAT_AUTH": self.auth,
            "VERTEXCHAT_PROMPT": self.prompt,
            "VERTEXCHAT_IMAGE": None if self.image is None else str(self.image.resolve()),
            "VERTEXCHAT_RAW": "1" if self.raw else None,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class ClaudeCodeOptions:
    """How to run `claude -p`: against base_url with token, as ANTHROPIC_API_KEY (sent as X-Api-Key)
    or ANTHROPIC_AUTH_TOKEN (sent as Authorization: Bearer).

    max_retries is Claude Code's own retry count (CLAUDE_CODE_MAX_RETRIES, default 10 with backoff up
    to about a minute: far too slow for a test). Its request timeout follows the run's timeout.
    """

    base_url: str
    token: str
    model: str
    auth: Literal["api-key", "auth-token"] = "api-key"
    max_retries: int = 0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    extra_args: Sequence[str] = ()


@dataclass(frozen=True)
class ClaudeCodeRun:
    """A finished `claude -p --output-format json`: its exit code and the result object it printed."""

    returncode: int
    output: dict[str, Any]
    stderr: str


def anthropic_sdk(scenario: str, options: DriverOptions, timeout: float = 60.0) -> dict[str, Any]:
    """Run tests/node/anthropic_sdk.mjs: create, stream, tools, thinking, image, count_tokens,
    unknown_model, rate_limited or midstream_error."""
    return _run_driver("anthropic_sdk.mjs", scenario, options, timeout)


def ai_sdk(scenario: str, options: DriverOptions, timeout: float = 60.0) -> dict[str, Any]:
    """Run tests/node/ai_sdk.mjs: {responses,chat}_{generate,stream,generate_tools,stream_tools}."""
    return _run_driver("ai_sdk.mjs", scenario, options, timeout)


def claude_code(prompt: str, options: ClaudeCodeOptions, timeout: float = 120.0) -> ClaudeCodeRun:
    """Run the Claude Code CLI in print mode and return the JSON result it printed.

    Exit code 1 with ``output["is_error"]`` is Claude Code reporting an API failure, returned as is.
    """
    _require(CLAUDE)
    args = [str(CLAUDE), "-p", prompt, "--output-format", "json", "--model", options.model, *options.extra_args]
    with tempfile.TemporaryDirectory(prefix="claude-code-") as home:
        workdir = Path(home) / "work"
        workdir.mkdir()
        env = claude_code_env(options, Path(home), timeout)
        completed = _run(args, env=env, cwd=workdir, timeout=timeout)
    output = _last_json_line(completed)
    return ClaudeCodeRun(returncode=completed.returncode, output=output, stderr=completed.stderr)


def claude_code_env(options: ClaudeCodeOptions, home: Path, timeout: float) -> dict[str, str]:
    """The complete environment for one offline Claude Code run with its config under ``home``."""
    credential = "ANTHROPIC_API_KEY" if options.auth == "api-key" else "ANTHROPIC_AUTH_TOKEN"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": options.base_url,
        credential: options.token,
        "CLAUDE_CODE_MAX_RETRIES": str(options.max_retries),
        "API_TIMEOUT_MS": str(int(timeout * 1000)),
        **CLAUDE_CODE_OFFLINE_ENV,
        **options.extra_env,
    }


def _run_driver(script: str, scenario: str, options: DriverOptions, timeout: float) -> dict[str, Any]:
    _require(NODE_DIR / "node_modules")
    with tempfile.TemporaryDirectory(prefix="node-client-") as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, **options.env()}
        completed = _run(["node", script, scenario], env=env, cwd=NODE_DIR, timeout=timeout)
    if completed.returncode != 0:
        raise ClientRunError(f"{script} {scenario} exited {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return _last_json_line(completed)


def _run(args: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a client in its own process group, so a timeout also stops whatever it started."""
    with subprocess.Popen(
        args,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(process.pid)
            _, stderr = process.communicate()
            raise ClientRunError(f"{Path(args[0]).name} timed out after {timeout} s: {stderr.strip()[-2000:]}") from exc
        finally:
            _kill_group(process.pid)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def _kill_group(pgid: int) -> None:
    """Stop anything the client left running in its group (nothing, when it exits cleanly)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _last_json_line(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    try:
        parsed = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise ClientRunError(
            f"no JSON result (exit {completed.returncode}); stdout={completed.stdout[-1000:]!r} "
            f"stderr={completed.stderr[-2000:]!r}"
        ) from exc
    if not isinstance(parsed, dict):
        raise ClientRunError(f"expected a JSON object, got {parsed!r}")
    return parsed


def _require(path: Path) -> None:
    if not path.exists():
        raise ClientRunError(f"{path} is missing: run `make node-deps`")
