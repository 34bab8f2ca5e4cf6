"""Signals other features connect to (rewards listens for approved dispositions).

`disposition_approved` is sent inside the approving transaction, before the commit:
    disposition_approved.send(case, disposition=disposition, tip_ids=[...])
`tip_ids` are the contributing tips, earliest submitted first (the first reporter first).
`case_reopened` is sent inside the reopening transaction, before the commit:
    case_reopened.send(case, actor=approver, request_id=...)
(rewards withholds an unpaid reward of a reopened case).
A receiver that raises aborts the change (the transaction is rolled back).
"""

from blinker import Namespace

_signals = Namespace()
disposition_approved = _signals.signal("disposition-approved")
case_reopened = _signals.signal("case-reopened")
