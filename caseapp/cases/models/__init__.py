"""Tables of the case workflow, split by area; import them from here."""

from .case import (
    Case,
    CaseDepartment,
    CaseKeyWrap,
    CaseStatus,
    CaseTip,
    CaseTipSeal,
    DepartmentRole,
    WrapKind,
)
from .disposition import (
    AMOUNT_MEASURES,
    Disposition,
    DispositionMeasure,
    DispositionStatus,
    DispositionTip,
    MeasureKind,
    OutcomeKind,
    PublicOutcome,
    ReopenRequest,
)
from .intake import DecisionKind, TipDecision, TipIntake
from .stats import StatsCell, StatsState
from .work import (
    LAYOUT_ROW_ID,
    LAYOUT_STORED_NAME,
    ActionStatus,
    Evidence,
    JointAction,
    Note,
    SeizedItem,
    SeizedKind,
    Subject,
    SubjectIndex,
    SubjectKind,
    Task,
    TaskStatus,
)

__all__ = [
    "AMOUNT_MEASURES", "ActionStatus", "Case", "CaseDepartment", "CaseKeyWrap", "CaseStatus",
    "CaseTip", "CaseTipSeal", "DecisionKind", "DepartmentRole", "Disposition", "DispositionMeasure",
    "DispositionStatus", "DispositionTip", "Evidence", "LAYOUT_ROW_ID", "LAYOUT_STORED_NAME",
    "JointAction", "MeasureKind", "Note",
    "OutcomeKind", "PublicOutcome", "ReopenRequest", "SeizedItem", "SeizedKind", "StatsCell",
    "StatsState", "Subject", "SubjectIndex", "SubjectKind", "Task", "TaskStatus",
    "TipDecision", "TipIntake", "WrapKind",
]
