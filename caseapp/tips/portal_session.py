"""The tipster's session: the receipt lookup in the row, the tipster key in the session secret.

Server-side sessions (caseapp.accounts.sessions) keep the secret encrypted under a key only
the cookie's token yields; a portal session has kind "portal" and ends after
`portal_session_idle_minutes` idle, when the browser closes (no Max-Age), or on "leave".
"""

from __future__ import annotations

from flask import session

from .access import TipsterLogin

LOOKUP = "tip_lookup"


def sign_in(login: TipsterLogin) -> None:
    """Start a fresh portal session for this tip (any earlier session is ended first)."""
    if session.get("_user_id") or session.get(LOOKUP):
        _end()
    session.clear()
    session.kind = "portal"  # type: ignore[attr-defined]
    session[LOOKUP] = login.lookup
    session.put_secret(login.private_key)  # type: ignore[attr-defined]
    regenerate = getattr(session, "regenerate", None)
    if regenerate is not None and getattr(session, "stored", False):
        regenerate()


def current() -> tuple[str, bytes] | None:
    """(lookup, tipster private key) of the signed-in tipster, or None."""
    lookup = session.get(LOOKUP)
    if not lookup or getattr(session, "kind", "portal") != "portal":
        return None
    secret = session.get_secret()  # type: ignore[attr-defined]
    if not secret:
        return None
    return str(lookup), bytes(secret)


def sign_out() -> None:
    """End the portal session and delete its row."""
    _end()


def _end() -> None:
    end = getattr(session, "end", None)
    if end is not None:
        end()
    else:  # pragma: no cover - cookie sessions (not used by caseapp)
        session.clear()
