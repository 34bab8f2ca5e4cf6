"""The payout ledger: report by period with totals, CSV export, and "rewards paid" figures."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from .. import csvsafe
from ..accounts.models import User
from .models import DbSession, PayoutLedger

CSV_COLUMNS = ("ledger_id", "reward_id", "case_ref", "category", "district", "amount",
               "currency", "method", "reference", "paid_on", "recorded_at", "recorded_by",
               "verified_by", "approved_by", "handover_by", "handover_witness")


@dataclass(frozen=True)
class LedgerLine:
    """One ledger row with the names of the staff involved."""

    entry: PayoutLedger
    recorded_by: str
    verified_by: str
    approved_by: str
    handover_by: str
    handover_witness: str


@dataclass
class LedgerReport:
    """The rows of a period and their totals (per currency and per district)."""

    date_from: date
    date_to: date
    district: str | None
    lines: list[LedgerLine] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    by_district: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of payments."""
        return len(self.lines)

    @property
    def total(self) -> int:
        """Sum of all amounts (every reward is in the installation's one currency)."""
        return sum(self.totals.values())


def month_bounds(day: date) -> tuple[date, date]:
    """First and last day of the month of `day`."""
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


def _names(session: DbSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username)
                           .where(User.id.in_(ids)))
    return {uid: f"{name} ({username})" for uid, name, username in rows}


def report(session: DbSession, date_from: date, date_to: date,
           district: str | None = None) -> LedgerReport:
    """Payments with `paid_on` in [date_from, date_to], oldest first, with totals."""
    stmt = (select(PayoutLedger)
            .where(PayoutLedger.paid_on >= date_from, PayoutLedger.paid_on <= date_to)
            .order_by(PayoutLedger.paid_on, PayoutLedger.id))
    if district:
        stmt = stmt.where(PayoutLedger.district == district)
    entries = list(session.scalars(stmt))
    ids: set[int] = set()
    for e in entries:
        ids.update(i for i in (e.recorded_by_id, e.verified_by_id, e.approved_by_id,
                               e.handover_by_id, e.handover_witness_id) if i)
    names = _names(session, ids)
    result = LedgerReport(date_from, date_to, district or None)
    for e in entries:
        result.lines.append(LedgerLine(
            e, names.get(e.recorded_by_id, ""), names.get(e.verified_by_id, ""),
            names.get(e.approved_by_id, ""), names.get(e.handover_by_id or 0, ""),
            names.get(e.handover_witness_id or 0, "")))
        result.totals[e.currency] = result.totals.get(e.currency, 0) + e.amount
        result.by_district[e.district] = result.by_district.get(e.district, 0) + e.amount
    return result


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return csvsafe.cell(value)


def to_csv(rep: LedgerReport) -> str:
    """The report as CSV: a header, one line per payment, then one TOTAL line per currency."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in rep.lines:
        e = line.entry
        writer.writerow([_cell(v) for v in (
            e.id, e.reward_id, e.case_ref, e.category, e.district, e.amount, e.currency,
            e.method, e.reference, e.paid_on.isoformat(),
            e.recorded_at.isoformat(timespec="seconds"), line.recorded_by, line.verified_by,
            line.approved_by, line.handover_by, line.handover_witness)])
    for currency, total in sorted(rep.totals.items()):
        row = [""] * len(CSV_COLUMNS)
        row[0], row[5], row[6] = "TOTAL", str(total), currency
        row[1] = str(sum(1 for ln in rep.lines if ln.entry.currency == currency))
        writer.writerow(row)
    return "\ufeff" + out.getvalue()  # BOM: spreadsheet programs then read UTF-8 Chinese


@dataclass(frozen=True)
class PaidFigure:
    """Rewards paid in one district over a period."""

    district: str
    count: int
    amount: int


def rewards_paid(session: DbSession, date_from: date, date_to: date,
                 district: str | None = None) -> list[PaidFigure]:
    """Count and sum of ledger payments by district, for the supervisors' dashboard."""
    stmt = (select(PayoutLedger.district, func.count(PayoutLedger.id),
                   func.coalesce(func.sum(PayoutLedger.amount), 0))
            .where(PayoutLedger.paid_on >= date_from, PayoutLedger.paid_on <= date_to)
            .group_by(PayoutLedger.district).order_by(PayoutLedger.district))
    if district:
        stmt = stmt.where(PayoutLedger.district == district)
    return [PaidFigure(d, int(n), int(total)) for d, n, total in session.execute(stmt)]
