"""Time-based one-time codes (RFC 6238) as a second login factor.

The TOTP secret is sealed to the user's own public key, so the database alone does not
yield it: codes are checked after the password has unlocked the private key.
"""

from __future__ import annotations

from datetime import UTC

import pyotp
from flask_babel import lazy_gettext as _l

from .. import clock
from ..audit.service import record
from ..crypto import DecryptionError, PrivateKey, constant_time_equal, seal, unseal
from ..extensions import db
from .errors import AccountLocked, InvalidTotp, LoginFailed, NotAllowed
from .models import User
from .service import check_lock, register_failure, totp_required, verify_password

ISSUER = "caseapp"
STEP_SECONDS = 30


def _aad(user: User, purpose: str) -> str:
    return f"user:{user.id}:{purpose}"


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def seal_pending(user: User, secret: str) -> bytes:
    """Seal a not-yet-confirmed secret to the user's key (kept in the session meanwhile)."""
    return seal(secret.encode(), user.public, _aad(user, "totp-setup"))


def open_pending(user: User, private: PrivateKey, sealed: bytes) -> str:
    """Open a secret sealed by `seal_pending`."""
    return unseal(sealed, private, _aad(user, "totp-setup")).decode()


def _matching_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step (now ±1) whose code equals `code`, unless already used."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(clock.now().replace(tzinfo=UTC).timestamp()) // STEP_SECONDS
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if constant_time_equal(totp.generate_otp(step), code):
            return step
    return None


def current_code(secret: str) -> str:
    """The code an authenticator shows now (tests, demo)."""
    now_step = int(clock.now().replace(tzinfo=UTC).timestamp()) // STEP_SECONDS
    return pyotp.TOTP(secret).generate_otp(now_step)


def enable(user: User, private: PrivateKey, secret: str, code: str) -> None:
    """Confirm enrolment with a first code and store the sealed secret; commits."""
    step = _matching_step(secret, code, None)
    if step is None:
        raise InvalidTotp()
    if private.public_key().raw != user.public_key:
        raise NotAllowed("the session key does not belong to this user")
    user.totp_secret_sealed = seal(secret.encode(), user.public, _aad(user, "totp"))
    user.totp_enabled = True
    user.totp_last_step = step
    record("totp.enabled", actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def disable(user: User, password: str) -> None:
    """Turn the second factor off after confirming the password; commits."""
    if totp_required(user):
        raise NotAllowed(_l("Your role requires a second factor."))
    if not verify_password(user.password_hash, password):
        register_failure(user, clock.now())
        db.session.commit()
        raise LoginFailed("password")
    user.totp_enabled = False
    user.totp_secret_sealed = None
    user.totp_last_step = None
    record("totp.disabled", actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def verify(user: User, private: PrivateKey, code: str) -> None:
    """Second login step: accept a fresh code or raise InvalidTotp/AccountLocked; commits."""
    now = clock.now()
    try:
        check_lock(user, now)
    except AccountLocked:
        record("login.locked", actor=user, object_type="user", object_id=user.id)
        db.session.commit()
        raise
    step = None
    if user.totp_enabled and user.totp_secret_sealed:
        try:
            secret = unseal(user.totp_secret_sealed, private, _aad(user, "totp")).decode()
        except DecryptionError:
            secret = None
        if secret:
            step = _matching_step(secret, code, user.totp_last_step)
    if step is None or not user.active:
        register_failure(user, now)
        record("login.failure", actor=user, object_type="user", object_id=user.id,
               detail={"username": user.username, "reason": "totp"})
        db.session.commit()
        raise InvalidTotp()
    user.totp_last_step = step
    user.failed_logins = 0
    user.locked_until = None
    record("login.success", actor=user, object_type="user", object_id=user.id,
           detail={"totp": True})
    db.session.commit()
