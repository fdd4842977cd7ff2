"""The hub's web server: gunicorn, as `mash-hub serve` runs it.

- The application (settings, keys, the policy set) is loaded once, in gunicorn's master,
  before any worker is forked: a worker that dies and is replaced starts from that loaded
  app and never reads the policy files again. On dc1dfa7 every worker loaded them itself,
  so one worker replaced while a policy file was broken stopped the whole server, which
  stayed down after the file was mended (fault review, finding 3). A changed policy set
  takes effect at the next restart, after `mash-hub policies check`.
- What gunicorn answers itself (a worker stopped for overrunning its timeout, a request it
  cannot read) is answered in the hub's shapes: the API's JSON error for the API and the
  token endpoint, a plain-English page otherwise; never gunicorn's HTML (finding 9).
- gunicorn's `Server` banner is not written (security review V15).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from flask import Flask
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker

from mash_hub.http.errors import STATUS_CODES

API_PREFIXES = ("/api/", "/oauth/")
SERVER_MESSAGES = {
    500: "the hub could not complete the request",
    503: "the hub is not able to answer just now",
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} - MASH Hub</title></head>
<body>
<main>
<h1>{title}</h1>
<p>{advice}</p>
</main>
</body>
</html>
"""

_answering = threading.local()


def _answer(status: int, reason: str, path: str) -> bytes:
    """The whole HTTP answer gunicorn writes for `status` on `path`, in the hub's shape."""
    if path.startswith(API_PREFIXES):
        message = SERVER_MESSAGES.get(status, "the request could not be read")
        body = json.dumps({"error": STATUS_CODES.get(status, "error"), "message": message})
        content_type = "application/json"
    elif status >= 500:
        body = PAGE.format(
            title="Sorry, there is a problem with the service",
            advice="Nothing you entered has been saved. Try again in a few minutes.",
        )
        content_type = "text/html; charset=utf-8"
    else:
        body = PAGE.format(
            title="The hub could not read that request",
            advice="Go back and try again.",
        )
        content_type = "text/html; charset=utf-8"
    data = body.encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + data


def _write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    util.write_nonblock(sock, _answer(status_int, reason, getattr(_answering, "path", "")))


class HubWorker(SyncWorker):  # type: ignore[misc]
    """gunicorn's synchronous worker, whose own error answers are the hub's."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # A request refused while its headers were read has no `req` yet; the error may
        # carry the part that was read, path included.
        read = req if req is not None else getattr(exc, "req", None)
        _answering.path = str(getattr(read, "path", "") or "")
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _answering.path = ""


def _without_server_banner() -> None:
    """gunicorn writes `Server: gunicorn` on every answer, ahead of the application's
    headers, so removing the header in the app cannot reach it."""
    written = wsgi.Response.default_headers
    if getattr(written, "without_banner", False):
        return

    def default_headers(response: wsgi.Response) -> list[str]:
        return [line for line in written(response) if not line.lower().startswith("server:")]

    default_headers.without_banner = True  # type: ignore[attr-defined]
    wsgi.Response.default_headers = default_headers


def _install() -> None:
    """Done in the master, before any worker is forked, so that every worker has it."""
    _without_server_banner()
    util.write_error = _write_error


class HubServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, *, bind: str, workers: int, timeout: int) -> None:
        self._app = app
        self._options = {
            "bind": bind,
            "workers": workers,
            "timeout": timeout,
            "accesslog": None,
            "forwarded_allow_ips": "127.0.0.1",
            "worker_class": f"{HubWorker.__module__}.{HubWorker.__qualname__}",
            "preload_app": True,
            "post_fork": lambda _server, _worker: _fresh_connections(app),
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return self._app


def _fresh_connections(app: Flask) -> None:
    """A forked worker must not share the master's database connections: it drops the
    pool it inherited (without closing them under the master) and opens its own."""
    app.extensions["mash.db"].engine.dispose(close=False)


def serve(app: Flask, *, host: str, port: int, workers: int, timeout: int) -> None:
    _install()
    HubServer(app, bind=f"{host}:{port}", workers=workers, timeout=timeout).run()
