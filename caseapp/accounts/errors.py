"""Domain errors of the accounts feature; views turn them into messages."""

from __future__ import annotations

from datetime import datetime


class AccountError(Exception):
    """Base class of every accounts error."""


class LoginFailed(AccountError):
    """Unknown user, wrong password or disabled account (deliberately indistinguishable)."""


class AccountLocked(AccountError):
    """Too many failed attempts; no attempt is checked before `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class TotpRequired(AccountError):
    """The user must enrol a second factor before doing anything else."""


class PasswordChangeRequired(AccountError):
    """The user logged in with a temporary password and must choose a new one."""


class InvalidTotp(AccountError):
    """The one-time code is wrong, expired or already used."""


class PasswordPolicyError(AccountError):
    """The new password does not meet the policy."""


class NotAllowed(AccountError):
    """The acting user may not do this."""


class InvalidInput(AccountError):
    """Input that the domain rejects (duplicate name, unknown role, missing department)."""
