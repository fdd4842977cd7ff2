"""Structured logs: JSON lines with ids only, never names, narratives, passwords or tokens."""

from __future__ import annotations

import logging
import sys
import time

import structlog
from flask import Flask, Response, g, request

from mash_hub.config import Settings
from mash_hub.web.security import request_id

log = structlog.get_logger("mash_hub.request")


def configure(settings: Settings) -> None:
    level = getattr(logging, settings.logging.level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.logging.json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Looked up at each call, so a redirected stderr (a test, a supervisor) is honoured.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("request_started")
        principal = g.get("principal")
        log.info(
            "request",
            request_id=request_id(),
            method=request.method,
            endpoint=request.endpoint,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
            actor=principal.id if principal is not None else None,
            agency=principal.agency if principal is not None else None,
        )
        return response
