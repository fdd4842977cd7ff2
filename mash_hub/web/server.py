"""The hub's web server: gunicorn, as `mash-hub serve` runs it.

- The application (settings, keys, the policy set) is loaded once, in gunicorn's master,
  before any worker is forked: a worker that dies and is replaced starts from that loaded
  app and never reads the policy files again. On dc1dfa7 every worker loaded them itself,
  so one worker replaced while a policy file was broken stopped the whole server, which
  stayed down after the file was mended (fault review, finding 3). A changed policy set
  takes effect at the next restart, after `mash-hub policies check`.
- Each worker runs threads that take only requests already received whole, so slow
  clients cannot hold them (finding 8; see `mash_hub.web.worker`).
- A request's time is bounded where it can wait: on PostgreSQL every statement and lock
  wait of the served app ends after `timeout` seconds, and the app answers in its own
  shape; SQLite's own busy timeout bounds its waits.
- gunicorn's `Server` banner is not written (security review V15).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi

from mash_hub.web.worker import HubWorker, write_error


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
    util.write_error = write_error


class HubServer(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        app: Flask,
        *,
        bind: str,
        workers: int,
        threads: int,
        timeout: int,
        worker_class: type | str = HubWorker,
    ) -> None:
        self._app = app
        self._options: dict[str, Any] = {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "timeout": timeout,
            "accesslog": None,
            "forwarded_allow_ips": "127.0.0.1",
            "worker_class": worker_class,
            # No control socket: it would let any local process of the same user resize
            # or stop the server, and two servers on one machine would share its path.
            "control_socket_disable": True,
            "preload_app": True,
            "post_fork": lambda _server, _worker: _fresh_connections(app),
            "child_exit": lambda _server, worker: _forget_worker_metrics(worker.pid),
        }
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return self._app


def _forget_worker_metrics(pid: int) -> None:
    """A worker gone: its live gauges no longer count (its counters still do)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _fresh_connections(app: Flask) -> None:
    """A forked worker must not share the master's database connections: it drops the
    pool it inherited (without closing them under the master) and opens its own."""
    app.extensions["mash.db"].engine.dispose(close=False)


def _bounded_statements(app: Flask, seconds: int) -> None:
    """Every PostgreSQL session the served app opens ends a statement, or a wait for a
    lock, after `seconds`: a thread is never held by the database for longer (the
    synchronous worker was killed instead, and its client got gunicorn's page)."""
    app.extensions["mash.db"].bound_waits(seconds)


def serve(
    app: Flask,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    timeout: int,
    read_timeout: float,
) -> None:
    _install()
    _bounded_statements(app, timeout)
    HubWorker.read_timeout = read_timeout
    HubWorker.max_body = int(app.config.get("MAX_CONTENT_LENGTH") or HubWorker.max_body)
    HubServer(app, bind=f"{host}:{port}", workers=workers, threads=threads, timeout=timeout).run()
