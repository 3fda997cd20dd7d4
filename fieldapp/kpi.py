"""The KPIs of the assessment (考评), each defined once, here (docs/kpis.md explains them for
people). Pure: counts come in, rates, scores and ranks go out. The counting itself is SQL in
`fieldapp.services.rollups.kpi_counts`, which produces exactly the count names below; the
per-report rules it implements (through the stored `reports.kpi_code`, decoded by
`add_coded_counts`) are spelled out by `acceptance_result` and `closing_result` (tests check
the SQL against them).

**Cohort.** A KPI of an area for a period looks at the reports *filed* in that period
(reported_at, China-time days) in the area, **merged duplicates excluded** (a duplicate is the
same dispute, counted once through its main case), read **as of now**: a case filed in October
and closed late in November makes October's 按期办结率 worse. A case whose deadline has passed
while it is still waiting counts as **late** (not as missing); a case still within its
deadline is **pending** and left out of that KPI until it is decided.

Every KPI is numerator / denominator; with a denominator of 0 the value is None (no data),
and the composite score is taken over the KPIs that have a value (weights re-normalised).
An area with no report in the period has no score and no rank (无数据, `area_score`): it is
listed after the ranked areas, never first with a score of 100 from its check-ins alone.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

#: Reports per this many residents (每万人), the usual base in Chinese statistics.
RATE_BASE: Final = 10_000
REPEAT_PLACE: Final = (
    "A report is a repeat at the same place when an earlier report of the same category was "
    "filed at the same grid cell in the same period: n reports of one category at one cell "
    "in the period are 1 first report and n − 1 repeats."
)
OPEN_STATES: Final = frozenset(
    {"reported", "accepted", "assigned", "signed_for", "in_progress", "closing_requested"}
)


@dataclass(frozen=True)
class Kpi:
    """One KPI: value = numerator / denominator (× `scale`)."""

    key: str
    name_zh: str
    numerator: str
    denominator: str
    weight: float
    """Share of the composite score (0 = shown, not scored)."""
    higher_is_better: bool = True
    scale: float = 1.0


KPIS: Final[tuple[Kpi, ...]] = (
    # 及时受理率: decided at the acceptance step within its deadline.
    #   on time = accepted on time (accepted_on_time), or closed straight from "reported"
    #             (自办自结 without a separate acceptance) on time;
    #   late    = accepted late, closed straight from "reported" late, or still "reported"
    #             with its acceptance deadline passed (overdue: late, not missing).
    #   Rejected (不予受理) reports have no acceptance deadline result and are left out.
    Kpi("acceptance_on_time", "及时受理率", "accepted_on_time", "acceptance_due", 0.20),
    # 按期办结率: closed (办结, with an outcome) within the handling deadline in force.
    #   on time = closed with closed_on_time; late = closed late, or open in the handling
    #   step with its deadline passed.
    Kpi("closed_on_time", "按期办结率", "closed_on_time", "closing_due", 0.20),
    # 化解率: closed with outcome "resolved" (化解) / closed with any outcome (化解, 稳控,
    #   上交). Handing a case up (上交) closes it here without resolving it.
    Kpi("resolution", "化解率", "resolved", "closed", 0.20),
    # 群众满意率: (满意 + 基本满意) / follow-ups answered (回访 with a rating). Cases not
    #   (yet) visited are left out: an unanswered visit is not dissatisfaction.
    Kpi("satisfaction", "群众满意率", "satisfied", "rated", 0.15),
    # 零报告 compliance: officer-days checked in / officer-days expected, for the active
    #   officers attached to a cell of the area (each officer once per area), every day of
    #   the period up to yesterday (today is not over yet).
    Kpi("checkin_compliance", "零报告率", "checkin_days", "expected_checkin_days", 0.15),
    # Repeat-place rate (重复发生率): repeats / reports, where a report is a repeat when an
    #   earlier report of the same category was filed at the same grid cell in the same
    #   period (REPEAT_PLACE). Lower is better: scored as 1 − rate. Per period rather than a
    #   rolling 30 days: periods of equal length (what rankings and deltas compare) stay
    #   comparable. Counted from reports.prev_place_at (docs/kpis.md).
    Kpi("repeat_place", "重复发生率", "repeats", "reports", 0.10, higher_is_better=False),
    # Reports per 10,000 residents (每万人上报数): reports / area population × 10,000.
    #   Shown, not scored: more early reports is not worse work.
    Kpi("reports_per_10k", "每万人上报数", "reports", "population", 0.0, scale=RATE_BASE),
)
KPI_BY_KEY: Final = {k.key: k for k in KPIS}
COUNT_NAMES: Final = tuple(
    dict.fromkeys(
        name for k in KPIS for name in (k.numerator, k.denominator) if name != "population"
    )
)
assert abs(sum(k.weight for k in KPIS) - 1.0) < 1e-9, "scored weights must add up to 1"


def value(kpi: Kpi, counts: Mapping[str, int | None]) -> float | None:
    """numerator / denominator × scale, None without a denominator."""
    numerator, denominator = counts.get(kpi.numerator), counts.get(kpi.denominator)
    if not denominator or numerator is None:
        return None
    return numerator / denominator * kpi.scale


def values(counts: Mapping[str, int | None]) -> dict[str, float | None]:
    return {k.key: value(k, counts) for k in KPIS}


def score(kpi_values: Mapping[str, float | None]) -> float | None:
    """The composite score, 0–100: 100 × Σ weight × goodness / Σ weight over the scored KPIs
    that have a value, where goodness is the rate (or 1 − rate when lower is better). None
    when no scored KPI has a value."""
    total = weights = 0.0
    for kpi in KPIS:
        v = kpi_values.get(kpi.key)
        if kpi.weight == 0 or v is None:
            continue
        goodness = v if kpi.higher_is_better else 1.0 - v
        total += kpi.weight * goodness
        weights += kpi.weight
    return 100.0 * total / weights if weights else None


def has_data(counts: Mapping[str, int | None]) -> bool:
    """Whether an area can be assessed for a period: it has at least one report filed in it
    (merged duplicates excluded). Without one, its case KPIs have no value and a composite
    score over the check-ins alone would read 100 and rank it first (issue #14): such an
    area is shown as 无数据 (no data), not scored and ranked after the areas with data."""
    return bool(counts.get("reports"))


def area_score(
    counts: Mapping[str, int | None], kpi_values: Mapping[str, float | None]
) -> float | None:
    """The composite score of an area (`score`), or None (无数据) when it has no report in the
    period (`has_data`): what the dashboards' ranking and the assessment table use."""
    return score(kpi_values) if has_data(counts) else None


def ranks(scores: Sequence[float | None]) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4) by score, highest first; None for no score. Scores are
    compared rounded to 2 decimals, as shown, so equal-looking scores share a rank."""
    rounded = [round(s, 2) if s is not None else None for s in scores]
    present = [s for s in rounded if s is not None]
    return [None if s is None else 1 + sum(1 for o in present if o > s) for s in rounded]


def delta(current: float | None, previous: float | None) -> float | None:
    return None if current is None or previous is None else current - previous


def rank_change(current: int | None, previous: int | None) -> int | None:
    """Places moved up (positive) or down (negative) since the previous period."""
    return None if current is None or previous is None else previous - current


# --- the per-report KPI code (reports.kpi_code) ----------------------------------------------
# PostgreSQL keeps, on every write, the part of the per-report rules below that does not depend
# on the time of asking (the generated column reports.kpi_code, fieldapp.models.KPI_CODE_SQL):
# the KPI counts then group reports by (code, due_at < now) and add the groups up here.

#: Acceptance (bits 0–1) and closing (bits 2–3) results: not counted, on time, late, or late
#: once due_at has passed (still waiting in that step; pending until then).
RESULT_NONE: Final = 0
RESULT_ON_TIME: Final = 1
RESULT_LATE: Final = 2
RESULT_LATE_WHEN_DUE: Final = 3
CODE_RESOLVED: Final = 16
CODE_CLOSED: Final = 32
CODE_SATISFIED: Final = 64
CODE_RATED: Final = 128


def add_coded_counts(counts: dict[str, int], code: int, overdue: bool | None, n: int) -> None:
    """Add `n` reports with this kpi_code (`overdue`: due_at < now) to the KPI counts (every
    count name present afterwards, 0 when none applies)."""
    for name, counted in _coded(code, bool(overdue)):
        counts[name] = counts.get(name, 0) + (n if counted else 0)


@functools.cache
def _coded(code: int, overdue: bool) -> tuple[tuple[str, bool], ...]:
    """(count name, whether a report with this code counts in it), decoded once per code:
    the KPI table adds up thousands of (code, overdue) groups per request."""
    out = [("reports", True)]
    for result, on_time, due in (
        (code & 3, "accepted_on_time", "acceptance_due"),
        ((code >> 2) & 3, "closed_on_time", "closing_due"),
    ):
        counted = result in (RESULT_ON_TIME, RESULT_LATE) or (
            result == RESULT_LATE_WHEN_DUE and overdue
        )
        out += [(due, counted), (on_time, result == RESULT_ON_TIME)]
    for bit, name in (
        (CODE_RESOLVED, "resolved"),
        (CODE_CLOSED, "closed"),
        (CODE_SATISFIED, "satisfied"),
        (CODE_RATED, "rated"),
    ):
        out.append((name, bool(code & bit)))
    return tuple(out)


# --- the per-report rules the SQL implements (and the tests check it against) -------------


def acceptance_result(
    status: str,
    accepted_at: datetime | None,
    accepted_on_time: bool | None,
    closed_on_time: bool | None,
    due_at: datetime | None,
    now: datetime,
) -> str | None:
    """ "on_time", "late", or None (pending, rejected or merged: not counted)."""
    if status == "merged":
        return None
    if accepted_at is not None:
        return "on_time" if accepted_on_time else "late"
    if status == "closed":  # resolved straight from "reported"
        return "on_time" if closed_on_time else "late"
    if status == "reported" and due_at is not None and due_at < now:
        return "late"
    return None


def closing_result(
    status: str,
    step: str | None,
    closed_on_time: bool | None,
    due_at: datetime | None,
    now: datetime,
) -> str | None:
    """ "on_time", "late", or None (pending, rejected or merged: not counted)."""
    if status == "closed":
        return "on_time" if closed_on_time else "late"
    if status in OPEN_STATES and step == "handling" and due_at is not None and due_at < now:
        return "late"
    return None


def repeat_count(places: Sequence[Hashable]) -> int:
    """Repeats (REPEAT_PLACE) among the places (cell, category) of a period's reports, merged
    duplicates left out: n reports at one place are 1 first report and n − 1 repeats. The SQL
    gets the same number per report from reports.prev_place_at (migration 0007)."""
    return len(places) - len(set(places))


def rounded(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(v, digits)


def describe() -> list[dict[str, Any]]:
    """The KPI definitions as data (for the API's answer and the docs)."""
    return [
        {
            "key": k.key,
            "name": k.name_zh,
            "numerator": k.numerator,
            "denominator": k.denominator,
            "weight": k.weight,
            "higher_is_better": k.higher_is_better,
            "scale": k.scale,
        }
        for k in KPIS
    ]
