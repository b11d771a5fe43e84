"""Serve one function of ``functions/main.py`` as functions-framework's CLI does, keeping idle connections open.

``functions-framework --target T`` builds the Flask app and serves it through its gunicorn
application, which reads a few variables (``THREADS``, ``WORKERS``, ``CLOUD_RUN_TIMEOUT_SECONDS``)
and keyword options only: it is a gunicorn ``BaseApplication``, so ``GUNICORN_CMD_ARGS`` and a
``gunicorn.conf.py`` are never read, and the CLI passes no options. Gunicorn's default keep-alive
is 2 s, while Node's fetch (undici) reuses a socket idle for up to 4 s: a Node client then
sends its next request into a connection the server is closing ("other side closed").

Locally nothing stands between the client and gunicorn, so this launcher runs the same two
steps as the CLI (``create_app``, then ``create_server(...).run``) and passes the one option the
CLI cannot: ``keepalive``. Deployed, clients connect to Google's front end, not to gunicorn
(README, Reliability).
"""

from __future__ import annotations

import argparse

import functions_framework
from functions_framework._http import create_server

# Well beyond how long common clients reuse an idle connection (Node's undici: 4 s);
# 75 s is also nginx's default keepalive_timeout.
KEEPALIVE_SECONDS = 75


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keepalive", type=int, default=KEEPALIVE_SECONDS)
    args = parser.parse_args(argv)
    # functions-framework is not annotated.
    app = functions_framework.create_app(args.target, args.source)  # type: ignore[no-untyped-call]
    server = create_server(app, False, keepalive=args.keepalive)  # type: ignore[no-untyped-call]
    server.run(args.host, args.port)


if __name__ == "__main__":
    main()
