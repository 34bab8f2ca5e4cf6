"""Domain errors of the rewards feature; the views turn them into plain-words messages."""

from __future__ import annotations


class RewardError(Exception):
    """Base class of every reward error."""


class NoSuchReward(RewardError):
    """No reward with this id (or none the caller may see)."""


class IllegalTransition(RewardError):
    """The reward is not in a state that allows this action."""

    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"cannot {action} a reward that is {state}")
        self.action = action
        self.state = state


class ClaimWindowClosed(IllegalTransition):
    """The claim deadline has passed."""


class AlreadyPaid(RewardError):
    """The reward has been paid already; a second payout is refused."""


class StaleReward(RewardError):
    """The reward changed since the page was loaded (optimistic lock); reload and retry."""


class NotPermitted(RewardError):
    """The actor's roles do not allow this action."""


class SeparationOfDuties(NotPermitted):
    """The same person may not verify and approve one reward."""


class FinanceUnavailable(RewardError):
    """No finance department (or key) exists to seal the claim to."""


class InvalidClaim(RewardError):
    """One or more claim fields are wrong; `problems` maps field name to problem code."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in sorted(problems.items())))
        self.problems = problems


class InvalidPayout(RewardError):
    """The payout record is incomplete or inconsistent; `field` names the culprit."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


class WrongCollectionCode(InvalidPayout):
    """The collection code shown by the person collecting does not match."""

    def __init__(self) -> None:
        super().__init__("collection_code", "mismatch")
