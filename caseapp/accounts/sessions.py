"""Server-side, revocable sessions: the cookie carries only a random token.

The row is stored under `session_id(token)`; the user's unlocked private key is kept in
the row encrypted under a key derived from the token, so neither the database nor the
cookie alone yields it. Session writes go through the request's `db.session` (SQLite
allows one writer per connection), after rolling back whatever the view left uncommitted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, select, update
from werkzeug.datastructures import CallbackDict

from .. import clock
from ..crypto import DecryptionError, new_session_token, open_from_session, seal_for_session
from ..crypto import session_id as make_session_id
from ..extensions import db
from .models import ServerSession, User

SECRET_PURPOSE = "user-key"  # noqa: S105 - a label, not a secret
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is refreshed at most this often
_serializer = TaggedJSONSerializer()


class CaseappSession(CallbackDict[str, Any], SessionMixin):
    """The session of one request: a dict plus the token that names and unlocks its row."""

    def __init__(self, initial: dict[str, Any] | None = None, *, token: str | None = None,
                 stored: bool = False, sealed: bytes | None = None, kind: str = "staff",
                 last_seen_at: datetime | None = None) -> None:
        def on_update(self: CaseappSession) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.request_token = token
        self.token = token
        self.stored = stored
        self.kind = kind
        self.last_seen_at = last_seen_at
        self.modified = False
        self.accessed = False
        self._sealed = sealed
        self._doomed: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """dict.get that marks the session accessed."""
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """dict.setdefault that marks the session accessed."""
        self.accessed = True
        return super().setdefault(key, default)

    @property
    def sid(self) -> str | None:
        """The stored id of this session (hash of the token), or None before the first write."""
        return make_session_id(self.token) if self.token else None

    @property
    def empty(self) -> bool:
        """True when there is nothing worth storing."""
        return not self and self._sealed is None

    def _ensure_token(self) -> str:
        if self.token is None:
            self.token = new_session_token()
            self.stored = False
        return self.token

    def regenerate(self) -> None:
        """Give the session a new token and row (old row deleted); call at every login."""
        secret = self.get_secret()
        if self.stored and self.sid:
            self._doomed.append(self.sid)
        self.token = new_session_token()
        self.stored = False
        self._sealed = seal_for_session(self.token, secret, SECRET_PURPOSE) if secret else None
        self.modified = True

    def put_secret(self, secret: bytes) -> None:
        """Keep `secret` (the unlocked user key) encrypted under the cookie's token."""
        token = self._ensure_token()
        self._sealed = seal_for_session(token, secret, SECRET_PURPOSE)
        self.modified = True

    def get_secret(self) -> bytes | None:
        """The secret stored by `put_secret`, or None."""
        if not self.token or self._sealed is None:
            return None
        try:
            return open_from_session(self.token, self._sealed, SECRET_PURPOSE)
        except DecryptionError:
            return None

    def clear_secret(self) -> None:
        """Forget the stored secret."""
        if self._sealed is not None:
            self._sealed = None
            self.modified = True

    def end(self) -> None:
        """Empty the session and delete its row (logout)."""
        self.clear()
        self._sealed = None
        if self.stored and self.sid:
            self._doomed.append(self.sid)
        self.token = None
        self.stored = False
        self.modified = True


def _idle_limit(app: Flask, kind: str) -> timedelta:
    cfg = app.config["CASEAPP"]
    if kind == "portal":
        return timedelta(minutes=cfg.portal_session_idle_minutes)
    return timedelta(minutes=cfg.session_idle_minutes)


class ServerSessionInterface(SessionInterface):
    """Stores sessions in `server_sessions`; cookie = token only (HttpOnly, SameSite=Lax)."""

    session_class = CaseappSession

    def open_session(self, app: Flask, request: Request) -> CaseappSession:
        """Load the row named by the cookie; anything invalid yields an empty session."""
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) > 128:
            return CaseappSession()
        sid = make_session_id(token)
        found = db.session.execute(
            select(ServerSession.data, ServerSession.secret, ServerSession.kind,
                   ServerSession.last_seen_at, ServerSession.expires_at,
                   ServerSession.user_id, User.active, User.session_version)
            .outerjoin(User, User.id == ServerSession.user_id)
            .where(ServerSession.id == sid)
        ).first()
        if found is None:
            return self._rejected(token, None)
        now = clock.now()
        try:
            data = _serializer.loads(found.data) if found.data else {}
        except ValueError:
            data = None
        valid = (
            isinstance(data, dict)
            and now - found.last_seen_at <= _idle_limit(app, found.kind)
            and now < found.expires_at
            and (found.user_id is None
                 or (found.active and data.get("_sv") == found.session_version))
        )
        if not valid:
            return self._rejected(token, sid)
        return CaseappSession(data, token=token, stored=True, sealed=found.secret,
                              kind=found.kind, last_seen_at=found.last_seen_at)

    @staticmethod
    def _rejected(token: str, sid: str | None) -> CaseappSession:
        """An empty session for a stale cookie: its row (if any) is deleted, its cookie cleared."""
        sess = CaseappSession()
        sess.request_token = token
        if sid:
            sess._doomed.append(sid)
        return sess

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Persist the session row and set or clear the cookie."""
        assert isinstance(session, CaseappSession)
        if session.accessed:
            response.vary.add("Cookie")
        now = clock.now()
        writes: list[Any] = []
        if session._doomed:
            writes.append(delete(ServerSession).where(ServerSession.id.in_(session._doomed)))
        if session.empty:
            if session.stored and session.sid:
                writes.append(delete(ServerSession).where(ServerSession.id == session.sid))
        else:
            writes.extend(self._row_writes(app, session, now))
        if writes:
            db.session.rollback()  # what the view left uncommitted is not ours to commit
            for stmt in writes:
                db.session.execute(stmt)
            db.session.commit()
            session._doomed.clear()
        self._set_cookie(app, session, response)

    def _row_writes(self, app: Flask, session: CaseappSession, now: datetime) -> list[Any]:
        token = session._ensure_token()
        sid = make_session_id(token)
        uid = session.get("_user_id")
        user_id = int(uid) if uid is not None else None
        if not session.stored:
            cfg = app.config["CASEAPP"]
            values = dict(id=sid, user_id=user_id, data=_serializer.dumps(dict(session)),
                          secret=session._sealed, created_at=now, last_seen_at=now,
                          expires_at=now + timedelta(hours=cfg.session_absolute_hours),
                          kind=session.kind)
            session.stored = True
            return [ServerSession.__table__.insert().values(**values)]
        if session.modified:
            return [update(ServerSession).where(ServerSession.id == sid).values(
                user_id=user_id, data=_serializer.dumps(dict(session)),
                secret=session._sealed, last_seen_at=now, kind=session.kind)]
        if session.last_seen_at is None or now - session.last_seen_at >= TOUCH_EVERY:
            return [update(ServerSession).where(ServerSession.id == sid)
                    .values(last_seen_at=now)]
        return []

    def _set_cookie(self, app: Flask, session: CaseappSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if session.empty or session.token is None:
            if session.request_token:
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self.get_cookie_secure(app),
                                       httponly=True, samesite=self.get_cookie_samesite(app))
            return
        if session.token != session.request_token:
            response.set_cookie(name, session.token, domain=domain, path=path,
                                secure=self.get_cookie_secure(app), httponly=True,
                                samesite=self.get_cookie_samesite(app) or "Lax")
            response.vary.add("Cookie")


def revoke_user_sessions(user_id: int, except_sid: str | None = None) -> int:
    """Delete every session of a user (but `except_sid`); the caller commits."""
    stmt = delete(ServerSession).where(ServerSession.user_id == user_id)
    if except_sid:
        stmt = stmt.where(ServerSession.id != except_sid)
    result = db.session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired_sessions() -> int:
    """Delete rows past their absolute expiry or idle limit (a periodic job); commits."""
    from flask import current_app

    now = clock.now()
    staff_idle = now - _idle_limit(current_app, "staff")
    portal_idle = now - _idle_limit(current_app, "portal")
    result = db.session.execute(
        delete(ServerSession).where(
            (ServerSession.expires_at <= now)
            | ((ServerSession.kind == "portal") & (ServerSession.last_seen_at < portal_idle))
            | ((ServerSession.kind != "portal") & (ServerSession.last_seen_at < staff_idle))
        )
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def current_sid() -> str | None:
    """The stored id of the current request's session."""
    from flask import session

    return session.sid if isinstance(session, CaseappSession) else None
