"""Who may use each endpoint, per HTTP method: the product's intent, written down by hand.

Built from ../shared/DOMAIN.md, not copied from the code: citizens use the portal without
an account; intake screens tips; investigators and department leads work cases (leads also
manage departments on a case, decide dispositions and grant the department key); finance
verifies, approves and pays rewards; supervisors read statistics; auditors read the audit
log; administrators manage users, departments and jobs. Every staff member manages their
own account, notifications and session.

Principals are the role names, "anonymous" (a browser with no session) and "tipster" (a
browser signed in on the portal with a receipt). tests/security/test_access_matrix.py
checks every rule of `app.url_map` against this table; a new route without an entry fails.

How a refusal looks (the "denied" answer the matrix expects):
- staff page, anonymous or tipster: the guard's redirect to the staff login (`?next=`);
- staff page, a role without the permission: 403;
- receipt pages of the portal without a receipt session (anyone but the tipster): 401 and
  the page asking for the receipt;
- per-object refusals (a case of another department) answer 404 to hide that the object
  exists: tests/security/test_idor.py.
"""

from __future__ import annotations

from caseapp.accounts.permissions import Role

ANONYMOUS = "anonymous"
TIPSTER = "tipster"
STAFF: frozenset[str] = frozenset(r.value for r in Role)
EVERYONE: frozenset[str] = STAFF | {ANONYMOUS, TIPSTER}
PRINCIPALS: tuple[str, ...] = (ANONYMOUS, TIPSTER, *sorted(STAFF))


def only(*roles: Role | str) -> frozenset[str]:
    """The principals named."""
    return frozenset(str(r.value if isinstance(r, Role) else r) for r in roles)


ADMIN = only(Role.ADMIN)
INTAKE = only(Role.INTAKE)
CASE_WORKERS = only(Role.INVESTIGATOR, Role.DEPT_LEAD)
LEAD = only(Role.DEPT_LEAD)
FINANCE = only(Role.FINANCE_OFFICER, Role.FINANCE_APPROVER)
SUPERVISOR = only(Role.SUPERVISOR)
AUDITOR = only(Role.AUDITOR)
ONLY_TIPSTER = only(TIPSTER)

# endpoint → {method → principals allowed}
TABLE: dict[str, dict[str, frozenset[str]]] = {
    # -- the portal: anonymous by design ------------------------------------------------
    "tips.index": {"GET": EVERYONE},
    "tips.report": {"GET": EVERYONE},
    "tips.submit": {"POST": EVERYONE},
    "tips.followup": {"GET": EVERYONE},
    "tips.followup_post": {"POST": EVERYONE},
    "tips.leave": {"POST": EVERYONE},
    "cases_public.cases_handled": {"GET": EVERYONE},
    # only with a receipt session
    "tips.status": {"GET": ONLY_TIPSTER},
    "tips.reply": {"POST": ONLY_TIPSTER},
    "tips.proof": {"GET": ONLY_TIPSTER},
    "rewards_portal.reward": {"GET": ONLY_TIPSTER},
    "rewards_portal.claim": {"POST": ONLY_TIPSTER},
    # -- staff login and every member's own account --------------------------------------
    "accounts.login": {"GET": EVERYONE, "POST": EVERYONE},
    "accounts.login_totp": {"GET": EVERYONE, "POST": EVERYONE},
    "accounts.logout": {"POST": STAFF},
    "accounts.home": {"GET": STAFF},
    "accounts.account": {"GET": STAFF, "POST": STAFF},
    "accounts.account_totp": {"GET": STAFF, "POST": STAFF},
    "accounts.totp_disable": {"POST": STAFF},
    "notify.index": {"GET": STAFF},
    "notify.read": {"POST": STAFF},
    # -- administration ------------------------------------------------------------------
    "admin.users": {"GET": ADMIN},
    "admin.user_new": {"GET": ADMIN, "POST": ADMIN},
    "admin.user_edit": {"GET": ADMIN, "POST": ADMIN},
    "admin.user_reset": {"POST": ADMIN},
    "admin.departments": {"GET": ADMIN},
    "admin.department_new": {"GET": ADMIN, "POST": ADMIN},
    "admin.department_edit": {"GET": ADMIN, "POST": ADMIN},
    "admin.department_active": {"POST": ADMIN},
    "jobs.index": {"GET": ADMIN},
    "audit.index": {"GET": AUDITOR},
    # the lead hands the department key to members of their own department
    "accounts.department_keys": {"GET": LEAD},
    "accounts.grant_key": {"POST": LEAD},
    # -- intake --------------------------------------------------------------------------
    "tips_staff.register": {"GET": INTAKE},
    "tips_staff.register_post": {"POST": INTAKE},
    "cases.intake_queue": {"GET": INTAKE},
    "cases.intake_search": {"GET": INTAKE},
    "cases.intake_tip": {"GET": INTAKE},
    "cases.intake_tip_file": {"GET": INTAKE},
    "cases.intake_promote": {"POST": INTAKE},
    "cases.intake_link": {"POST": INTAKE},
    "cases.intake_ask": {"POST": INTAKE},
    "cases.intake_reject": {"POST": INTAKE},
    "cases.intake_refer": {"POST": INTAKE},
    # -- cases (and per case: only departments on it, see test_idor.py) ------------------
    "cases.case_list": {"GET": CASE_WORKERS},
    "cases.my_tasks": {"GET": CASE_WORKERS},
    "cases.case_detail": {"GET": CASE_WORKERS},
    "cases.case_timeline": {"GET": CASE_WORKERS},
    "cases.case_evidence_file": {"GET": CASE_WORKERS},
    "cases.case_evidence_integrity": {"GET": CASE_WORKERS},
    "cases.case_tip_file": {"GET": CASE_WORKERS},
    "cases.case_investigate": {"POST": CASE_WORKERS},
    "cases.case_add_task": {"POST": CASE_WORKERS},
    "cases.case_task_status": {"POST": CASE_WORKERS},
    "cases.case_add_note": {"POST": CASE_WORKERS},
    "cases.case_message_tipster": {"POST": CASE_WORKERS},
    "cases.case_add_action": {"POST": CASE_WORKERS},
    "cases.case_action_result": {"POST": CASE_WORKERS},
    "cases.case_add_seized": {"POST": CASE_WORKERS},
    "cases.case_add_subject": {"POST": CASE_WORKERS},
    "cases.case_add_evidence": {"POST": CASE_WORKERS},
    "cases.case_reopen_request": {"POST": CASE_WORKERS},
    "cases.case_propose": {"POST": CASE_WORKERS},
    "cases.case_add_department": {"POST": LEAD},
    "cases.case_remove_department": {"POST": LEAD},
    "cases.case_reopen_decide": {"POST": LEAD},
    "cases.case_decide": {"POST": LEAD},
    "cases.case_publish": {"POST": LEAD},
    # -- statistics ----------------------------------------------------------------------
    "cases.stats": {"GET": SUPERVISOR},
    "cases.stats_csv": {"GET": SUPERVISOR},
    "cases.stats_refresh": {"POST": SUPERVISOR},
    # -- rewards: finance learns who is paid, never what the tip said --------------------
    "rewards.queue": {"GET": FINANCE},
    "rewards.detail": {"GET": FINANCE},
    "rewards.disbursement_record": {"GET": FINANCE},
    "rewards.verify": {"POST": only(Role.FINANCE_OFFICER)},
    "rewards.approve": {"POST": only(Role.FINANCE_APPROVER)},
    "rewards.pay": {"POST": FINANCE},
    "rewards.reject": {"POST": FINANCE},
    "rewards.ledger_report": {"GET": FINANCE},
    "rewards.ledger_print": {"GET": FINANCE},
    "rewards.ledger_csv": {"GET": FINANCE},
}

# endpoints answering 401 (the receipt page) to a browser without a receipt session
RECEIPT_PAGES: frozenset[str] = frozenset(
    e for e, methods in TABLE.items() if set(methods.values()) == {ONLY_TIPSTER})
# endpoints without a login: the portal and the staff login pages
PUBLIC_ENDPOINTS: frozenset[str] = frozenset(
    e for e, methods in TABLE.items()
    if all(allowed >= {ANONYMOUS} for allowed in methods.values()))
SKIPPED = frozenset({"static"})


def allowed(endpoint: str, method: str) -> frozenset[str]:
    """The principals the table lets use `method` on `endpoint`."""
    return TABLE[endpoint][method]


def denial(endpoint: str, principal: str) -> str:
    """How a refusal looks: "login" (redirect), "403" or "401" (the receipt page)."""
    if endpoint in RECEIPT_PAGES:
        return "401"
    if principal in (ANONYMOUS, TIPSTER):
        return "login"
    return "403"
