"""`flask demo`: demo departments and one user per role, with department keys granted."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..crypto import KeyStoreError, KeyUnavailable, PrivateKey, read_escrow_file
from ..crypto.keystore import ESCROW_FILE
from ..extensions import db
from ..keys import ensure_keystore
from . import keys, service
from .models import Department, DepartmentKeyGrant
from .permissions import Role

DEMO_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("health", "卫生健康委", "Health Commission"),
    ("family_planning", "人口计生", "Population and Family Planning"),
    ("public_security", "公安局", "Public Security Bureau"),
    ("drug_admin", "药品监督管理局", "Drug Administration"),
    ("market_regulation", "市场监督管理局", "Market Regulation Administration"),
    ("finance", "财政局", "Finance Bureau"),
    ("discipline", "纪检监察", "Discipline Inspection and Supervision"),
    ("political_legal", "政法委", "Political and Legal Affairs Commission"),
    ("labour", "人力资源和社会保障局", "Human Resources and Social Security"),
    ("womens_federation", "妇联", "Women's Federation"),
)

# username, display name, department code (or None), roles
DEMO_USERS: tuple[tuple[str, str, str | None, tuple[Role, ...]], ...] = (
    ("admin", "系统管理员 Admin", None, (Role.ADMIN,)),
    ("intake", "受理员 Intake officer", "health", (Role.INTAKE,)),
    ("investigator", "调查员 Investigator", "health", (Role.INVESTIGATOR,)),
    ("lead", "科长 Department lead", "health", (Role.DEPT_LEAD,)),
    ("lead2", "副科长 Second lead", "health", (Role.DEPT_LEAD,)),
    ("investigator2", "民警 Police investigator", "public_security", (Role.INVESTIGATOR,)),
    ("lead_police", "公安科长 Police lead", "public_security", (Role.DEPT_LEAD,)),
    ("finance_officer", "会计 Finance officer", "finance", (Role.FINANCE_OFFICER,)),
    ("finance_approver", "财务审批 Finance approver", "finance", (Role.FINANCE_APPROVER,)),
    ("supervisor", "领导小组 Supervisor", None, (Role.SUPERVISOR,)),
    ("auditor", "审计员 Auditor", None, (Role.AUDITOR,)),
)


def demo_password(username: str) -> str:
    """The printed demo password of a demo user."""
    return f"demo-{username}-pass"


def _escrow(path: Path) -> tuple[str, PrivateKey] | None:
    try:
        return read_escrow_file(path)
    except KeyStoreError:
        return None


def load_demo(escrow_path: Path | None) -> tuple[list[str], list[str]]:
    """Create what is missing; returns (created lines, existing lines) for printing."""
    created: list[str] = []
    existing: list[str] = []
    departments: dict[str, Department] = {}
    for code, zh, en in DEMO_DEPARTMENTS:
        dept = db.session.scalar(select(Department).where(Department.code == code))
        if dept is None:
            dept = keys.create_department(code, zh, en)
            created.append(f"department {code} {zh}")
        departments[code] = dept
    escrow = _escrow(escrow_path) if escrow_path else None
    for username, name, dept_code, roles in DEMO_USERS:
        user = service.get_user(username)
        line = f"{username:<17} {demo_password(username):<28} {', '.join(roles)}"
        if user is None:
            dept = departments[dept_code] if dept_code else None
            user = service.create_user(username, name, dept, roles, demo_password(username))
            created.append(line)
        else:
            existing.append(line)
        if escrow is not None and user.department_id is not None:
            held = db.session.scalar(select(DepartmentKeyGrant.id).where(
                DepartmentKeyGrant.user_id == user.id,
                DepartmentKeyGrant.department_id == user.department_id))
            if held is None:
                try:
                    keys.escrow_grant(escrow[1], escrow[0], user.department_id, user)
                except KeyUnavailable:
                    created.append(f"(no key granted to {username}: escrow key mismatch)")
    return created, existing


@click.command("demo")
@with_appcontext
@click.option("--escrow-key", "escrow_path", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Escrow private key file (default: the one `flask init` wrote).")
def demo_command(escrow_path: Path | None) -> None:
    """Create demo departments and one user per role (idempotent)."""
    ensure_keystore()
    path = escrow_path or current_app.config["CASEAPP"].instance_path / ESCROW_FILE
    if not path.exists():
        click.echo(f"No escrow key at {path}: department keys will not be granted.")
    created, existing = load_demo(path if path.exists() else None)
    if created:
        click.echo("Created (users: name, password, roles):")
        for line in created:
            click.echo(f"  {line}")
    if existing:
        click.echo("Already present (user, password, roles):")
        for line in existing:
            click.echo(f"  {line}")
    click.echo("Log in at /staff/login. Demo passwords are public: never use them in production.")
