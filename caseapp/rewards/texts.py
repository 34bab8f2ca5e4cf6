"""Plain-words labels of reward states, methods, categories and districts, in one place."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_babel import lazy_gettext as _l

from .forms import METHOD_LABELS
from .models import RewardState

S = RewardState
STATE_LABELS: dict[str, Any] = {
    S.ELIGIBLE.value: _l("Eligible, not yet claimed"),
    S.CLAIMED.value: _l("Claimed, to be verified"),
    S.VERIFIED.value: _l("Verified, to be approved"),
    S.APPROVED.value: _l("Approved, to be paid"),
    S.PAID.value: _l("Paid"),
    S.EXPIRED.value: _l("Expired (not claimed in time)"),
    S.REJECTED.value: _l("Rejected"),
    S.WITHHELD.value: _l("Withheld (case reopened)"),
}
# What the tipster reads on the portal for each state: where things stand, what comes next.
PORTAL_TEXTS: dict[str, Any] = {
    S.ELIGIBLE.value: _l("Your report was verified and a reward is available to you. Claim it "
                         "below before the deadline."),
    S.CLAIMED.value: _l("We have received your claim. The finance office checks it; this "
                        "usually takes a few weeks. Check back here with your receipt."),
    S.VERIFIED.value: _l("Your claim has been checked and is waiting for approval."),
    S.APPROVED.value: _l("Your claim has been approved. The payment is being prepared."),
    S.PAID.value: _l("The reward has been paid."),
    S.EXPIRED.value: _l("The reward was not claimed before the deadline and has expired."),
    S.REJECTED.value: _l("The claim could not be accepted. If you think this is a mistake, "
                         "write to us through the messages on your report page."),
    S.WITHHELD.value: _l("The case has been reopened. The reward is on hold until the case "
                         "is decided again; nothing is lost. Check back later."),
}


def state_label(state: str) -> str:
    """Staff-facing name of a state."""
    return str(STATE_LABELS.get(state, state))


def portal_text(state: str) -> str:
    """Tipster-facing explanation of a state."""
    return str(PORTAL_TEXTS.get(state, ""))


def method_label(method: str) -> str:
    """Name of a payout method."""
    return str(METHOD_LABELS.get(method, method))


def category_label(code: str) -> str:
    """Name of an offence category (the code itself when unknown)."""
    from ..tips.forms import CATEGORY_CHOICES

    return next((str(label) for value, label in CATEGORY_CHOICES if value == code), code)


def district_label(code: str) -> str:
    """Name of a district in the current locale (the code when unknown)."""
    from ..tips.regions import regions

    if not code:
        return ""
    try:
        return regions().label(code, str(g.get("locale") or "zh_CN"))
    except (OSError, ValueError, KeyError):
        return code
