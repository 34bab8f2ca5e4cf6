"""Config.from_env: the portal's submission limits can be set by the operator."""

from __future__ import annotations

from caseapp.config import Config


def test_portal_limits_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    monkeypatch.delenv("CASEAPP_PORTAL_SUBMIT_LIMIT", raising=False)
    monkeypatch.delenv("CASEAPP_PORTAL_GLOBAL_LIMIT", raising=False)
    default = Config.from_env()
    assert default.portal_submit_limit == "10 per minute;40 per hour"
    assert default.portal_global_limit == "600 per minute"
    monkeypatch.setenv("CASEAPP_PORTAL_SUBMIT_LIMIT", "3 per minute")
    monkeypatch.setenv("CASEAPP_PORTAL_GLOBAL_LIMIT", "50 per minute")
    cfg = Config.from_env()
    assert cfg.portal_submit_limit == "3 per minute"
    assert cfg.portal_global_limit == "50 per minute"
