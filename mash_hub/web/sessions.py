"""Server-side sessions: the cookie carries a random token, the state lives in the database.

So a session can be revoked (sign-out, a disabled user), expires on the server after the
idle and absolute limits whatever the browser keeps, and a replayed cookie finds nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, select
from werkzeug.datastructures import CallbackDict

from mash_hub.config import Settings
from mash_hub.db import Database
from mash_hub.identity.models import WebSession

TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        token: str | None = None,
        created_at: datetime | None = None,
    ) -> None:
        def on_update(_: object) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.created_at = created_at
        self.new = token is None
        self.modified = False
        self.revoke_requested = False
        self.regenerate_requested = False
        self.previous_token: str | None = None

    def regenerate(self) -> None:
        """Issue a new token at the next save (after sign-in), dropping the old row."""
        self.regenerate_requested = True
        self.modified = True

    def revoke(self) -> None:
        """End this session on the server and clear the cookie (sign-out)."""
        self.revoke_requested = True
        self.clear()


class DatabaseSessionInterface(SessionInterface):
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        secure = settings.app.production or settings.session.cookie_secure
        self.secure = secure
        # The __Host- prefix pins the cookie to this host, path / and HTTPS.
        self.cookie_name = "__Host-mash_session" if secure else "mash_session"

    def _now(self, app: Flask) -> datetime:
        now: datetime = app.extensions["mash.clock"].now()
        return now

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.cookie_name)
        if not token or len(token) > 128:
            return ServerSession()
        now = self._now(app)
        with self.database.transaction() as db:
            row = db.get(WebSession, _hash(token))
            if row is None or row.revoked_at is not None:
                return ServerSession()
            idle = self.settings.session.idle_timeout.timedelta
            absolute = self.settings.session.absolute_timeout.timedelta
            if now - row.last_seen_at > idle or now - row.created_at > absolute:
                row.revoked_at = now
                if row.user_id is None:
                    return ServerSession()
                # Tell the person why they are back at the sign-in page.
                session = ServerSession({"notice": "timed_out"})
                session.modified = True
                return session
            try:
                data = json.loads(row.data)
            except ValueError:
                data = {}
            return ServerSession(data, token=token, created_at=row.created_at)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)  # noqa: S101 - installed by create_app
        now = self._now(app)
        if session.revoke_requested:
            if session.token:
                with self.database.transaction() as db:
                    db.execute(delete(WebSession).where(WebSession.id == _hash(session.token)))
            response.delete_cookie(
                self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax"
            )
            return
        if session.new and not session.modified:
            return
        user_id = session.get("_user_id")
        payload = json.dumps(dict(session), separators=(",", ":"), default=str)
        with self.database.transaction() as db:
            if session.regenerate_requested and session.token:
                db.execute(delete(WebSession).where(WebSession.id == _hash(session.token)))
                session.token = None
            if session.token is None:
                session.token = secrets.token_urlsafe(TOKEN_BYTES)
                session.created_at = now
                db.add(
                    WebSession(
                        id=_hash(session.token),
                        user_id=_uuid_or_none(user_id),
                        data=payload,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
                set_cookie = True
            else:
                row = db.scalar(select(WebSession).where(WebSession.id == _hash(session.token)))
                if row is None or row.revoked_at is not None:
                    # Ended while this request ran: by sign-out, a disabled account, or a
                    # sign-in that renewed the token. Leave the cookie alone: a request that
                    # raced a renewal must not wipe the browser's new cookie.
                    return
                row.last_seen_at = now
                if session.modified:
                    row.data = payload
                    row.user_id = _uuid_or_none(user_id)
                set_cookie = session.modified
        if set_cookie:
            response.set_cookie(
                self.cookie_name,
                session.token,
                path="/",
                secure=self.secure,
                httponly=True,
                samesite="Lax",
            )


def _uuid_or_none(value: object) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
