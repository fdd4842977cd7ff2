"""`GET /metrics`: the hub's counters for Prometheus, behind a bearer token.

- `mash_http_requests_total{endpoint, method, status}` and the latency histogram
  `mash_http_request_duration_seconds{endpoint, method}`: the endpoint is the route's
  name ("casefile_api.api_show"), never the path, which carries ids; a path no route
  matches is "unmatched", a method outside HTTP's usual ones "other".
- `mash_decisions_total{action, outcome}`: every firewall decision, allowed or denied.
- Read from the database when scraped: `mash_audit_events_unsealed` (events the sealer has
  not chained yet), `mash_audit_seconds_since_checkpoint`, `mash_scheduler_leader` (1 while
  a scheduler holds the leader lock), `mash_outbox_messages{state}` (messages queued,
  being sent, or dead: a growing queue means no delivery, dead ones need an operator).

No label holds an id, a name or anything typed by a person: endpoint names, methods,
status codes, policy action names and outcomes are fixed sets. Scraping shows no case
data, so it leaves no audit event; it is refused (401) without the token, and off (404)
when no token is configured.

Served by gunicorn, each worker counts in files under a directory the server makes at
start (`PROMETHEUS_MULTIPROC_DIR`), and a scrape of any worker sums them all.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mash_hub import runtime
from mash_hub.authz import public
from mash_hub.db import Database
from mash_hub.operations.leadership import leader_alive, lock_path

bp = Blueprint("metrics", __name__)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HubMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "mash_http_requests",
            "Requests answered, by route name, method and status code.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "mash_http_request_duration_seconds",
            "Time to answer a request, by route name and method.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "mash_decisions",
            "Firewall decisions, by policy action and outcome.",
            ["action", "outcome"],
            registry=registry,
        )


class DatabaseGauges(Collector):
    """What is read from the database at each scrape (small, indexed queries)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        database: Database = self.app.extensions["mash.db"]
        settings = self.app.extensions["mash.settings"]
        unsealed = GaugeMetricFamily(
            "mash_audit_events_unsealed", "Audit events not yet chained by the sealer."
        )
        since = GaugeMetricFamily(
            "mash_audit_seconds_since_checkpoint", "Seconds since the newest signed checkpoint."
        )
        leader = GaugeMetricFamily(
            "mash_scheduler_leader", "1 while a scheduler holds the leader lock, else 0."
        )
        outbox = GaugeMetricFamily(
            "mash_outbox_messages",
            "Messages leaving the hub not yet sent (queued or sending) or dead, by state.",
            labels=["state"],
        )
        try:
            with database.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    # The outbox is the system's to read (row-level security).
                    conn.execute(text("SELECT set_config('app.agency_id', 'system', true)"))
                waiting = dict.fromkeys(("queued", "sending", "dead"), 0)
                for state, number in conn.execute(
                    text(
                        "SELECT state, count(*) FROM outbox_messages "
                        "WHERE state IN ('queued', 'sending', 'dead') GROUP BY state"
                    )
                ):
                    waiting[state] = int(number)
                for state, number in waiting.items():
                    outbox.add_metric([state], number)
                newest = conn.execute(
                    text("SELECT seq, at FROM audit_checkpoints ORDER BY id DESC LIMIT 1")
                ).first()
                head = int(newest[0]) if newest is not None else 0
                unsealed.add_metric(
                    [],
                    int(
                        conn.scalar(
                            text("SELECT count(*) FROM audit_events WHERE seq > :head"),
                            {"head": head},
                        )
                        or 0
                    ),
                )
            if newest is not None:
                at = newest[1]
                if isinstance(at, str):
                    at = datetime.fromisoformat(at)
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                since.add_metric([], max(0.0, (datetime.now(UTC) - at).total_seconds()))
            lock = lock_path(self.app.instance_path, settings.scheduler.lock_file)
            leader.add_metric([], 1.0 if leader_alive(database.engine, lock) else 0.0)
        except SQLAlchemyError:
            return  # the database is away: /readyz says so; these gauges are left out
        yield unsealed
        if newest is not None:
            yield since
        yield leader
        yield outbox


def _hub_metrics() -> HubMetrics:
    value: HubMetrics = current_app.extensions["mash.metrics"]
    return value


def init_app(app: Flask) -> None:
    multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
    registry = CollectorRegistry(auto_describe=True)
    metrics = HubMetrics(None if multiprocess else registry)
    app.extensions["mash.metrics"] = metrics
    app.extensions["mash.metrics_registry"] = registry
    app.extensions["mash.metrics_gauges"] = DatabaseGauges(app)
    runtime.on_decision(
        app,
        lambda action, allowed: metrics.decisions.labels(
            action, "allowed" if allowed else "denied"
        ).inc(),
    )

    @app.before_request
    def _started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        endpoint = request.endpoint or "unmatched"
        method = request.method if request.method in METHODS else "other"
        metrics.requests.labels(endpoint, method, str(response.status_code)).inc()
        if started is not None:
            metrics.latency.labels(endpoint, method).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def _scrape() -> bytes:
    registry = CollectorRegistry(auto_describe=True)
    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory:
        MultiProcessCollector(registry, path=directory)
        registry.register(current_app.extensions["mash.metrics_gauges"])
        return generate_latest(registry)
    own: CollectorRegistry = current_app.extensions["mash.metrics_registry"]
    return generate_latest(own) + generate_latest(
        _only(current_app.extensions["mash.metrics_gauges"])
    )


def _only(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


@bp.route("/metrics")
@public  # a scraper has no session: it is checked against [metrics] token below
def metrics() -> Response:
    token = runtime.settings().metrics.token
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        refused = jsonify(error="invalid_token", message="a valid metrics token is required")
        refused.status_code = 401
        refused.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        refused.headers["Cache-Control"] = "no-store"
        return refused
    response = Response(_scrape(), mimetype=None, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response
