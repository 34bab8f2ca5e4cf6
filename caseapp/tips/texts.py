"""Plain-words texts of the portal (statuses, outcomes, file problems), in one place."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from ..crypto import format_receipt
from .errors import FileProblem
from .models import Outcome, Status


def grouped(receipt: str) -> str:
    """The receipt in groups of four digits."""
    return format_receipt(receipt)


def megabytes(n: int) -> int:
    """Bytes as whole megabytes (rounded down)."""
    return n // (1024 * 1024)


def status_text(status: str) -> str:
    """What a status means, for the tipster."""
    return {
        Status.RECEIVED: _("Received. Your report is stored and waiting to be read."),
        Status.UNDER_REVIEW: _("Under review: the office is checking your report."),
        Status.NEEDS_INFO: _("We need more information: please read the messages below "
                             "and answer if you can."),
        Status.CASE_OPENED: _("A case has been opened. An investigation can take weeks or "
                              "months."),
        Status.CLOSED: _("Closed."),
        Status.REJECTED: _("Not taken up."),
        Status.REFERRED: _("Passed on to the authority responsible for it."),
    }.get(Status(status) if status in Status._value2member_map_ else Status.RECEIVED,
          _("Received."))


def outcome_text(outcome: str | None) -> str:
    """What an outcome means, for the tipster ('' when there is none)."""
    if not outcome:
        return ""
    return {
        Outcome.SUBSTANTIATED: _("Your report was verified. A reward is available: claim it "
                                 "with your receipt."),
        Outcome.NOT_SUBSTANTIATED: _("The report could not be verified."),
        Outcome.DUPLICATE: _("The same matter was already being handled after an earlier "
                             "report."),
        Outcome.OUT_OF_SCOPE: _("The report is about something this office does not "
                                "handle."),
    }.get(Outcome(outcome) if outcome in Outcome._value2member_map_ else Outcome.OUT_OF_SCOPE,
          "")


def file_problem(problem: FileProblem) -> str:
    """Exactly what is wrong with one file, and what to do."""
    cfg = current_app.config["CASEAPP"]
    name = problem.filename
    if problem.reason == "oversize":
        return _("%(name)s is larger than %(mb)d MB. Please send a shorter or smaller copy.",
                 name=name, mb=megabytes(cfg.portal_max_file_bytes))
    if problem.reason == "count":
        return _("You can send at most %(n)d files at a time; %(name)s was not accepted.",
                 n=cfg.portal_max_files, name=name or "…")
    if problem.reason == "too_many_pixels":
        return _("%(name)s is a very large picture. Please send a smaller copy "
                 "(for example a screenshot).", name=name)
    if problem.reason == "damaged_image":
        return _("%(name)s looks like a picture but cannot be opened. Please send it "
                 "again or choose another file.", name=name)
    return _("%(name)s is not a photo, recording, video or PDF (we check the content, not the "
             "name). Allowed: JPEG, PNG, WebP, HEIC photos; MP3, M4A, AAC, AMR, WAV, OGG "
             "recordings; MP4, 3GP, MOV videos; PDF documents.", name=name)


def storage_failed() -> str:
    """The message when a tip could not be stored (no receipt is shown)."""
    return _("Your report could not be stored because of a problem on our side. Nothing was "
             "kept and you have no receipt yet. Please try again in a few minutes.")


def limits() -> str:
    """The upload limits in one sentence."""
    cfg = current_app.config["CASEAPP"]
    return _("Up to %(n)d files, each at most %(mb)d MB.", n=cfg.portal_max_files,
             mb=megabytes(cfg.portal_max_file_bytes))
