"""Every permission named once, mapped to roles here; everything not granted is denied."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Role(StrEnum):
    """Staff roles; a user holds one or more."""

    ADMIN = "admin"
    INTAKE = "intake"
    INVESTIGATOR = "investigator"
    DEPT_LEAD = "dept_lead"
    FINANCE_OFFICER = "finance_officer"
    FINANCE_APPROVER = "finance_approver"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """Named permissions (`feature:object:action`)."""

    SELF_MANAGE = "accounts:self:manage"
    USERS_MANAGE = "accounts:user:manage"
    DEPARTMENTS_MANAGE = "accounts:department:manage"
    KEYS_GRANT = "accounts:key:grant"
    JOBS_READ = "system:jobs:read"
    TIPS_READ = "tips:tip:read"
    TIPS_REGISTER = "tips:tip:register"
    TIPS_DECIDE = "tips:tip:decide"
    CASES_READ = "cases:case:read"
    CASES_WRITE = "cases:case:write"
    CASES_MANAGE = "cases:case:manage"
    DISPOSITION_PROPOSE = "cases:disposition:propose"
    DISPOSITION_APPROVE = "cases:disposition:approve"
    STATS_READ = "stats:dashboard:read"
    REWARDS_READ = "rewards:reward:read"
    REWARDS_VERIFY = "rewards:reward:verify"
    REWARDS_APPROVE = "rewards:reward:approve"
    REWARDS_PAY = "rewards:reward:pay"
    LEDGER_READ = "rewards:ledger:read"
    AUDIT_READ = "audit:log:read"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({P.SELF_MANAGE, P.USERS_MANAGE, P.DEPARTMENTS_MANAGE, P.JOBS_READ}),
    Role.INTAKE: frozenset({P.SELF_MANAGE, P.TIPS_READ, P.TIPS_REGISTER, P.TIPS_DECIDE}),
    Role.INVESTIGATOR: frozenset({P.SELF_MANAGE, P.CASES_READ, P.CASES_WRITE,
                                  P.DISPOSITION_PROPOSE}),
    Role.DEPT_LEAD: frozenset({P.SELF_MANAGE, P.CASES_READ, P.CASES_WRITE, P.CASES_MANAGE,
                               P.DISPOSITION_PROPOSE, P.DISPOSITION_APPROVE, P.KEYS_GRANT}),
    Role.FINANCE_OFFICER: frozenset({P.SELF_MANAGE, P.REWARDS_READ, P.REWARDS_VERIFY,
                                     P.REWARDS_PAY, P.LEDGER_READ}),
    Role.FINANCE_APPROVER: frozenset({P.SELF_MANAGE, P.REWARDS_READ, P.REWARDS_APPROVE,
                                      P.REWARDS_PAY, P.LEDGER_READ}),
    Role.SUPERVISOR: frozenset({P.SELF_MANAGE, P.STATS_READ}),
    Role.AUDITOR: frozenset({P.SELF_MANAGE, P.AUDIT_READ}),
}


def permissions_for(roles: Iterable[str]) -> frozenset[Permission]:
    """Union of the permissions of the given role names (unknown names grant nothing)."""
    granted: set[Permission] = set()
    for name in roles:
        if name in Role._value2member_map_:
            granted |= ROLE_PERMISSIONS[Role(name)]
    return frozenset(granted)


def require(permission: Permission) -> Callable[[F], F]:
    """Mark a staff view as needing `permission`; enforced by the app-wide guard."""

    def mark(view: F) -> F:
        view._caseapp_permission = permission  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Mark a view as open to anyone (portal pages, the login form)."""
    view._caseapp_public = True  # type: ignore[attr-defined]
    return view

