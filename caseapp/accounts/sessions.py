"""STUB — replaced by the server-side session store."""

from flask.sessions import SecureCookieSessionInterface


class ServerSessionInterface(SecureCookieSessionInterface):
    """Placeholder."""
