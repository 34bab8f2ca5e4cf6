"""The "rewards paid" figure comes from the rewards feature through a registered function.

    from caseapp.cases.stats import register_rewards_paid, RewardsPaid
    register_rewards_paid(lambda f: RewardsPaid(count=..., amount=...))

The function receives the dashboard's `StatsFilter` (month range and district) and must
use aggregate SQL over clear metadata only. Until one is registered the figure is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RewardsPaid:
    """Number of payouts and their total amount (CNY) in the filtered period."""

    count: int = 0
    amount: int = 0


RewardsPaidFn = Callable[[Any], RewardsPaid]
_PROVIDERS: list[RewardsPaidFn] = []


def register_rewards_paid(fn: RewardsPaidFn) -> RewardsPaidFn:
    """Register a provider of the rewards-paid figure (idempotent); usable as a decorator."""
    if fn not in _PROVIDERS:
        _PROVIDERS.append(fn)
    return fn


def unregister_rewards_paid(fn: RewardsPaidFn) -> None:
    """Remove a provider (tests)."""
    if fn in _PROVIDERS:
        _PROVIDERS.remove(fn)


def rewards_paid(filters: Any) -> RewardsPaid:
    """Sum of every registered provider's figure (0 when none is registered)."""
    count = amount = 0
    for fn in _PROVIDERS:
        got = fn(filters)
        count += int(got.count)
        amount += int(got.amount)
    return RewardsPaid(count, amount)
