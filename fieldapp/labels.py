"""What a person reads for a case's stored codes: its state, severity, outcome and the
follow-up's satisfaction. Defined once for the triage pages, the dashboards and the exports.
Lazy: each is translated where it is shown, in the reader's language (an export's under its
own, with force_locale in the worker)."""

from __future__ import annotations

from typing import Final

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from fieldapp.workflow import State

STATE_LABELS: Final[dict[str, LazyString]] = {
    State.REPORTED.value: _l("Awaiting acceptance"),
    State.ACCEPTED.value: _l("Accepted"),
    State.REJECTED.value: _l("Rejected"),
    State.MERGED.value: _l("Merged"),
    State.ASSIGNED.value: _l("Assigned"),
    State.SIGNED_FOR.value: _l("Signed for"),
    State.IN_PROGRESS.value: _l("In progress"),
    State.CLOSING_REQUESTED.value: _l("Awaiting review"),
    State.CLOSED.value: _l("Closed"),
}
SEVERITY_LABELS: Final[dict[str, LazyString]] = {
    "red": _l("Red"),
    "orange": _l("Orange"),
    "yellow": _l("Yellow"),
}
OUTCOME_LABELS: Final[dict[str, LazyString]] = {
    "resolved": _l("Resolved"),
    "stabilised": _l("Stabilised"),
    "escalated": _l("Escalated"),
}
SATISFACTION_LABELS: Final[dict[str, LazyString]] = {
    "satisfied": _l("Satisfied"),
    "basically_satisfied": _l("Basically satisfied"),
    "dissatisfied": _l("Dissatisfied"),
}
#: Account roles (the roster file's Chinese words are fieldapp.roster_file.ROLE_WORDS).
ROLE_LABELS: Final[dict[str, LazyString]] = {
    "officer": _l("Grid officer"),
    "coordinator": _l("Petition coordinator"),
    "county": _l("County staff"),
    "city": _l("City staff"),
    "department": _l("Department staff"),
    "admin": _l("Administrator"),
}
