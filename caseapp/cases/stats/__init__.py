"""Statistics from clear metadata only: a roll-up rebuilt by a job, read by the dashboard."""

from .dashboard import Dashboard, StatsFilter, Table, dashboard
from .hooks import RewardsPaid, register_rewards_paid, rewards_paid
from .rollup import refresh, state

__all__ = ["Dashboard", "RewardsPaid", "StatsFilter", "Table", "dashboard", "refresh",
           "register_rewards_paid", "rewards_paid", "state"]
