"""Staff downloads of a tip's files (and of files attached to tipster messages), audited.

Intake opens the tip with its department key, case members with the case's tip key. A file
id is only served through the tip it belongs to; anything else is NoSuchObject (404).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..extensions import db
from ..tips.access import FileInfo, file_chunks, file_info
from ..tips.errors import TipNotReadable
from ..tips.models import Tip, TipFile
from ..tips.uploads import safe_filename
from .common import opened
from .errors import NoSuchObject
from .models import Case, CaseTip
from .tipkeys import case_tip_keys, intake_tip_key


@dataclass(frozen=True)
class TipFileDownload:
    """A decrypted file ready to stream: its description, safe name and plaintext chunks."""

    tip_id: int
    info: FileInfo
    filename: str
    chunks: Iterator[bytes]


def tip_or_missing(tip_id: int) -> Tip:
    """The tip with this id; NoSuchObject otherwise."""
    tip = db.session.get(Tip, tip_id)
    if tip is None:
        raise NoSuchObject(f"tip {tip_id}")
    return tip


def file_of_tip(tip_id: int, file_id: int) -> TipFile:
    """The file row if it belongs to this tip (report or message file); NoSuchObject otherwise."""
    row = db.session.get(TipFile, file_id)
    if row is None or row.tip_id != tip_id:
        raise NoSuchObject(f"file {file_id} of tip {tip_id}")
    return row


def _download(tip_id: int, file_id: int, tip_key: bytes) -> TipFileDownload:
    row = file_of_tip(tip_id, file_id)
    info = file_info(row, tip_key)
    return TipFileDownload(tip_id, info, safe_filename(info.name), file_chunks(row, tip_key))


def intake_download(tip_id: int, file_id: int, keyring: Any, actor: Any) -> TipFileDownload:
    """A tip file opened with the intake department's key; audited, commits."""
    tip = tip_or_missing(tip_id)
    found = _download(tip.id, file_id, intake_tip_key(tip, keyring))
    opened("tip", tip.id, actor, "intake_tip_file", file=file_id)
    db.session.commit()
    return found


def case_download(case: Case, tip_id: int, file_id: int, keyring: Any,
                  actor: Any) -> TipFileDownload:
    """A file of a tip linked to the case, opened with the case's tip key; audited, commits."""
    link = db.session.get(CaseTip, tip_id)
    if link is None or link.case_id != case.id:
        raise NoSuchObject(f"tip {tip_id} of case {case.id}")
    tip_key = case_tip_keys(case, keyring).get(tip_id)
    if tip_key is None:
        raise TipNotReadable(f"tip {tip_id} is not yet readable on case {case.id}")
    found = _download(tip_id, file_id, tip_key)
    opened("tip", tip_id, actor, "case_tip_file", case=case.id, file=file_id)
    db.session.commit()
    return found
