"""Wiring to the cases feature: its signals create and withhold rewards; statistics hook.

The cases package is written in parallel; every connection here is optional and made
once per process (blinker keeps strong references with `weak=False`).
"""

from __future__ import annotations

import importlib
import logging
from datetime import date
from typing import Any

from flask import current_app

from ..extensions import db
from .eligibility import CaseFacts, create_reward, withhold_for_case

log = logging.getLogger(__name__)
SUBSTANTIATED = "substantiated"
_connected: set[int] = set()  # ids of the signal objects already connected
_PROVIDER: list[Any] = []  # the statistics provider, registered once per process


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """The first present attribute (or mapping key) of `obj` among `names`."""
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return default


def is_substantiated(disposition: Any) -> bool:
    """True when the disposition finds the tip substantiated (查实)."""
    flag = _get(disposition, "substantiated")
    if isinstance(flag, bool):
        return flag
    outcome = _get(disposition, "outcome", "finding", "result", default="")
    return str(getattr(outcome, "value", outcome)) == SUBSTANTIATED


def measure_kinds(disposition: Any) -> list[str]:
    """Kinds of the disposition's measures (clear metadata of the cases feature), if any."""
    disposition_id = _get(disposition, "id")
    if disposition_id is None:
        return []
    try:
        cases_disposition = importlib.import_module("caseapp.cases.disposition")
    except ImportError:
        return []
    measures_of = getattr(cases_disposition, "measures_of", None)
    if measures_of is None:
        return []
    kinds = [str(getattr(m, "kind", "")) for m in measures_of(int(disposition_id))]
    return list(dict.fromkeys(k for k in kinds if k))


def case_facts(case: Any, disposition: Any) -> CaseFacts:
    """The clear facts of a case finance may see: the measures taken, never any content."""
    kinds = measure_kinds(disposition)
    outcome = ", ".join(kinds)[:64] if kinds else _get(
        disposition, "severity", "measure", "kind", "outcome", default="")
    return CaseFacts(
        case_id=int(_get(case, "id")),
        case_ref=str(_get(case, "ref", "number", "case_number", default="") or ""),
        category=str(_get(case, "category", default="") or ""),
        district=str(_get(case, "district", default="") or ""),
        outcome=str(getattr(outcome, "value", outcome) or ""),
    )


def on_disposition_approved(sender: Any, **kw: Any) -> None:
    """Inside the approving transaction: a substantiated case gets its eligible reward.

    The cases feature sends `disposition_approved.send(case, disposition=…, tip_ids=[…])`.
    """
    case, disposition = kw.get("case", sender), kw.get("disposition")
    tip_ids = kw.get("tip_ids") or kw.get("contributing_tip_ids") or []
    if case is None or disposition is None or not is_substantiated(disposition):
        return
    create_reward(db.session, case_facts(case, disposition), tip_ids,
                  current_app.config["CASEAPP"])


def on_case_reopened(sender: Any, **kw: Any) -> None:
    """Inside the reopening transaction: the case's unpaid reward is withheld."""
    case = kw.get("case", sender)
    case_id = kw.get("case_id") or _get(case, "id")
    if case_id is None:
        return
    withhold_for_case(db.session, int(case_id), actor=kw.get("actor"))


def connect() -> None:
    """Connect to the cases signals that exist (idempotent)."""
    try:
        signals = importlib.import_module("caseapp.cases.signals")
    except ImportError:
        log.debug("caseapp.cases.signals not present: rewards not wired to dispositions")
        return
    for name, receiver in (("disposition_approved", on_disposition_approved),
                           ("case_reopened", on_case_reopened)):
        signal = getattr(signals, name, None)
        if signal is not None and id(signal) not in _connected:
            signal.connect(receiver, weak=False)
            _connected.add(id(signal))


def _month_start(month: str, default: date) -> date:
    try:
        return date(int(month[:4]), int(month[5:7]), 1)
    except (ValueError, IndexError):
        return default


def paid_for_filter(filters: Any) -> tuple[int, int]:
    """(count, amount) of payouts in the dashboard filter's months and district."""
    from .ledger import month_bounds, rewards_paid

    start = _month_start(str(getattr(filters, "month_from", "") or ""), date(1900, 1, 1))
    last_month = _month_start(str(getattr(filters, "month_to", "") or ""), date.max)
    end = date.max if last_month == date.max else month_bounds(last_month)[1]
    district = str(getattr(filters, "district", "") or "") or None
    figures = rewards_paid(db.session, start, end, district)
    return sum(f.count for f in figures), sum(f.amount for f in figures)


def register_statistics() -> None:
    """Provide the "rewards paid" figure to the supervisors' dashboard (cases.stats hook)."""
    try:
        stats = importlib.import_module("caseapp.cases.stats")
    except ImportError:
        return
    register = getattr(stats, "register_rewards_paid", None)
    figure = getattr(stats, "RewardsPaid", None)
    if register is None or figure is None or _PROVIDER:
        return

    def provider(filters: Any) -> Any:
        count, amount = paid_for_filter(filters)
        return figure(count=count, amount=amount)

    _PROVIDER.append(provider)
    register(provider)
