"""Fixed bounty, anonymous claim, two-person approval and the payout ledger."""
