"""The floor for `bench_load.py`: a bare Flask + psycopg app doing the same database work
per call as the hub, on the same database, and nothing else (no sign-in, no firewall,
no encryption, no audit chain). Served by gunicorn with the hub's worker settings.

    FLOOR_DSN=postgresql://... gunicorn -w 2 --threads 4 benchmarks.floor_app:app
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime

import psycopg
from flask import Flask, jsonify, request

app = Flask(__name__)
DSN = os.environ.get("FLOOR_DSN", "")
_local = threading.local()


def _conn() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(DSN)
        _local.conn = conn
    return conn


def _audit(cur: psycopg.Cursor, action: str, object_id: str) -> None:
    cur.execute(
        "INSERT INTO floor_audit (at, actor, action, object_id) VALUES (%s, %s, %s, %s)",
        (datetime.now(UTC), request.headers.get("Authorization", "")[-16:], action, object_id),
    )


@app.get("/api/v1/contacts/<contact_id>")
def read_contact(contact_id: str):  # type: ignore[no-untyped-def]
    conn = _conn()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, reference, received_at, status, rag FROM contacts WHERE id = %s",
            (contact_id,),
        )
        row = cur.fetchone()
        _audit(cur, "contact:read", contact_id)
    conn.commit()
    if row is None:
        return jsonify(error="not_found"), 404
    return jsonify(id=str(row[0]), reference=row[1], received_at=row[2].isoformat(),
                   status=row[3], rag=row[4])  # fmt: skip


@app.post("/api/v1/contacts")
def create_contact():  # type: ignore[no-untyped-def]
    body = request.get_json()
    conn = _conn()
    new_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO floor_contacts (id, received_at, body) VALUES (%s, %s, %s)",
            (new_id, body["received_at"], str(body)),
        )
        _audit(cur, "contact:create", new_id)
    conn.commit()
    return jsonify(id=new_id), 201


@app.get("/api/v1/requests")
def list_requests():  # type: ignore[no-untyped-def]
    conn = _conn()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, status, due_at FROM info_requests WHERE agency = 'health' "
            "AND status = 'open' ORDER BY due_at LIMIT 50"
        )
        rows = cur.fetchall()
        _audit(cur, "request:list", "")
    conn.commit()
    return jsonify(items=[{"id": str(r[0]), "status": r[1]} for r in rows])


@app.get("/api/v1/requests/<request_id>")
def read_request(request_id: str):  # type: ignore[no-untyped-def]
    conn = _conn()
    with conn.cursor() as cur:
        cur.execute("SELECT id, status, due_at FROM info_requests WHERE id = %s", (request_id,))
        row = cur.fetchone()
        _audit(cur, "request:read", request_id)
    conn.commit()
    if row is None:
        return jsonify(error="not_found"), 404
    return jsonify(id=str(row[0]), status=row[1], due_at=row[2].isoformat())


@app.get("/api/v1/audit/events")
def audit_events():  # type: ignore[no-untyped-def]
    conn = _conn()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, at, kind, action, decision FROM audit_events WHERE contact_id = %s "
            "ORDER BY seq DESC LIMIT 50",
            (request.args.get("contact_id"),),
        )
        rows = cur.fetchall()
        _audit(cur, "audit:read", "")
    conn.commit()
    return jsonify(items=[{"id": str(r[0]), "kind": r[2]} for r in rows])


SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_audit (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL, actor text, action text, object_id text
);
CREATE TABLE IF NOT EXISTS floor_contacts (
    id uuid PRIMARY KEY, received_at timestamptz NOT NULL, body text NOT NULL
);
"""
