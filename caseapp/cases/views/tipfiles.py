"""Downloads of a tip's files for intake and for the case's departments (audited)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, stream_with_context

from ...accounts.permissions import Permission, require
from .. import tipfiles
from . import bp
from .helpers import case_or_404, me, ring


def _attachment(found: tipfiles.TipFileDownload) -> Response:
    """Stream the plaintext as an attachment with its safe name and length."""
    resp = Response(stream_with_context(found.chunks), mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=tip-{found.tip_id}-file-{found.info.id}; "
        f"filename*=UTF-8''{quote(found.filename, safe='')}")
    resp.headers["Content-Length"] = str(found.info.size)
    return resp


@bp.get("/intake/tips/<int:tip_id>/files/<int:file_id>")
@require(Permission.TIPS_DECIDE)
def intake_tip_file(tip_id: int, file_id: int) -> Response:
    """Download a file of a tip, decrypted as it streams (intake; audited)."""
    return _attachment(tipfiles.intake_download(tip_id, file_id, ring(), me()))


@bp.get("/cases/<int:case_id>/tips/<int:tip_id>/files/<int:file_id>")
@require(Permission.CASES_READ)
def case_tip_file(case_id: int, tip_id: int, file_id: int) -> Response:
    """Download a file of a tip linked to the case, decrypted as it streams (audited)."""
    case, _role = case_or_404(case_id)
    return _attachment(tipfiles.case_download(case, tip_id, file_id, ring(), me()))
