"""The periodic retention sweep: warn lead departments before expiry, then purge."""

from __future__ import annotations

import logging
from typing import Any

from ..jobs import periodic
from . import service

log = logging.getLogger(__name__)


def _interval(cfg: Any) -> int:
    """Seconds between sweeps (Config.retention_every_seconds)."""
    return int(getattr(cfg, "retention_every_seconds", 3600))


@periodic("retention.sweep", _interval)
def sweep() -> None:
    """Warn once per expiring case, purge expired subjects, destroy unused epoch keys."""
    warned = service.warn_expiring()
    report = service.purge()
    if warned:
        log.info("retention: %d case(s) warned", len(warned))
    if report.subjects:
        log.info("retention: %d subject(s) purged", len(report.subjects))
