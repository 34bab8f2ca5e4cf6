"""The whole life of a tip in Chromium against an in-process server (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .scenario import run_scenario

pytestmark = pytest.mark.browser


def test_tip_lifecycle_in_browser(live_server: str, chromium_path: str, tmp_path: Path) -> None:
    """Citizen → intake → leads → joint investigator → citizen → finance → supervisor → auditor."""
    out = tmp_path / "screenshots"
    print(f"screenshots: {out}")
    result = run_scenario(live_server, out)
    assert result.before and result.after
    assert result.after.tips == result.before.tips + 1
    assert result.after.cases == result.before.cases + 1
    assert result.after.rewards_paid == result.before.rewards_paid + 1
    assert len(result.screenshots) >= 20
    assert all(p.stat().st_size > 0 for p in result.screenshots)
    assert result.citizen_requests
