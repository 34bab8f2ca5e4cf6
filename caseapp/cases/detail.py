"""Everything one case page shows, decrypted with the case key versions the user holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..accounts.models import Department, User
from ..crypto import decrypt_text
from ..extensions import db
from ..tips.access import TipContent, open_content
from ..tips.models import Tip
from .common import commit_for_display, header_aad, open_json, opened, row_aad
from .disposition import contributing_tips, measures_of
from .evidence import EvidenceInfo, evidence_of
from .keys import open_case_key, open_case_keys
from .models import (
    Case,
    CaseTip,
    Disposition,
    DispositionMeasure,
    JointAction,
    Note,
    ReopenRequest,
    SeizedItem,
    Subject,
    Task,
)
from .subjects import subject_aad
from .tipkeys import case_tip_keys, settle_links
from .workflow import member_departments, reopen_requests


@dataclass
class DispositionView:
    """A disposition with its decrypted text, measures and contributing tips."""

    row: Disposition
    body: dict[str, Any]
    measures: list[DispositionMeasure]
    tip_ids: list[int]


@dataclass
class CaseView:
    """The decrypted case."""

    case: Case
    role: str
    title: str
    summary: str
    departments: list[tuple[Department, str]]
    tips: list[tuple[CaseTip, Tip, TipContent | None]] = field(default_factory=list)
    subjects: list[tuple[Subject, dict[str, Any]]] = field(default_factory=list)
    tasks: list[tuple[Task, dict[str, Any]]] = field(default_factory=list)
    notes: list[tuple[Note, str]] = field(default_factory=list)
    actions: list[tuple[JointAction, dict[str, Any]]] = field(default_factory=list)
    seized: list[tuple[SeizedItem, dict[str, Any]]] = field(default_factory=list)
    evidence: list[EvidenceInfo] = field(default_factory=list)
    dispositions: list[DispositionView] = field(default_factory=list)
    reopen: list[tuple[ReopenRequest, str]] = field(default_factory=list)
    users: dict[int, User] = field(default_factory=dict)


def _rows(model: Any, case_id: int) -> list[Any]:
    return list(db.session.scalars(select(model).where(model.case_id == case_id)
                                   .order_by(model.id)))


def case_view(case: Case, role: str, keyring: Any, actor: Any) -> CaseView:
    """Open every part of a case (settling pending links first); audited; commits."""
    settle_links(case, keyring)
    keys = open_case_keys([(case.id, v) for v in range(1, case.key_version + 1)], keyring)
    if (case.id, case.header_version) not in keys:
        open_case_key(case, keyring, case.header_version)  # raises KeyUnavailable

    def key(version: int) -> bytes:
        return keys.get((case.id, version)) or open_case_key(case, keyring, version)

    header = open_json(key(case.header_version), case.header, header_aad(case.id))
    view = CaseView(case, role, header.get("title", ""), header.get("summary", ""),
                    member_departments(case))
    tip_keys = case_tip_keys(case, keyring)
    for link in _rows_links(case.id):
        tip = db.session.get(Tip, link.tip_id)
        if tip is None:
            continue
        tkey = tip_keys.get(tip.id)
        view.tips.append((link, tip, open_content(tip, tkey) if tkey else None))
        if tkey:
            opened("tip", tip.id, actor, "case_detail", case=case.id)
    view.subjects = [(s, open_json(key(s.key_version), s.record, subject_aad(case.id, s.id)))
                     for s in _rows(Subject, case.id)]
    view.tasks = [(t, open_json(key(t.key_version), t.body, row_aad(case.id, "task", t.id)))
                  for t in _rows(Task, case.id)]
    view.notes = [(n, decrypt_text(key(n.key_version), n.body, row_aad(case.id, "note", n.id)))
                  for n in _rows(Note, case.id)]
    view.actions = [(a, open_json(key(a.key_version), a.body,
                                  row_aad(case.id, "action", a.id)))
                    for a in _rows(JointAction, case.id)]
    view.seized = [(s, open_json(key(s.key_version), s.body, row_aad(case.id, "seized", s.id)))
                   for s in _rows(SeizedItem, case.id)]
    view.evidence = evidence_of(case, keyring)
    view.dispositions = [
        DispositionView(d, open_json(key(d.key_version), d.body,
                                     row_aad(case.id, "disposition", d.id)),
                        measures_of(d.id), contributing_tips(d.id))
        for d in _rows(Disposition, case.id)]
    view.reopen = reopen_requests(case, keyring)
    ids = {t.created_by_id for t, _ in view.tasks} | {t.assignee_user_id for t, _ in view.tasks}
    ids |= {n.author_id for n, _ in view.notes}
    ids |= {d.row.proposed_by_id for d in view.dispositions}
    ids |= {d.row.decided_by_id for d in view.dispositions}
    found = [i for i in ids if i is not None]
    if found:
        view.users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(found)))}
    opened("case", case.id, actor, "case_detail")
    commit_for_display()
    return view


def _rows_links(case_id: int) -> list[CaseTip]:
    return list(db.session.scalars(select(CaseTip).where(CaseTip.case_id == case_id)
                                   .order_by(CaseTip.linked_at, CaseTip.tip_id)))
