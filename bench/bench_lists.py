"""Intake queue and case list pages (50 rows, decrypted) vs. the same queries without decryption.

Each measured run is a fresh request: the department private key is opened (HPKE) once,
then every row costs AES only. Target: ratio ≤ 2 on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys

from casebench import Bench, backends, report, request_as, seed, timed
from flask import render_template

from caseapp.cases.forms import SearchForm
from caseapp.cases.intake import queue
from caseapp.cases.listing import case_list

TARGET = 2.0


def _queue_page(bench: Bench, decrypt: bool) -> None:
    with request_as(bench, bench.intake, bench.intake_key) as ring:
        page = queue(ring, ring.user, decrypt=decrypt)
        assert len(page.rows) == 50
        assert (page.rows[0].summary is not None) == decrypt
        render_template("cases/intake_queue.html", page=page, search_form=SearchForm(),
                        status="")


def _case_page(bench: Bench, decrypt: bool) -> None:
    with request_as(bench, bench.investigator, bench.investigator_key) as ring:
        page = case_list(ring, ring.user, status="active", decrypt=decrypt)
        assert len(page.rows) == 50
        assert (page.rows[0].title is not None) == decrypt
        render_template("cases/list.html", page=page, status="active",
                        statuses=["active"])


def main() -> int:
    """Run on every configured backend; exit 1 when a target is missed."""
    ok = True
    for backend, url in backends():
        bench = seed(backend, url)
        for name, fn in (("intake queue page", _queue_page), ("case list page", _case_page)):
            base = timed(lambda fn=fn, b=bench: fn(b, False))
            full = timed(lambda fn=fn, b=bench: fn(b, True))
            ok &= report(backend, name + " (50 rows)", "without decryption", base, full, TARGET)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
