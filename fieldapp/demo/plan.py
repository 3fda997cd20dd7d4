"""A whole history planned at once (`plan_history`: reports, clusters, cases, check-ins),
without a database."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy.typing as npt

from fieldapp.deadlines import DeadlinePolicy
from fieldapp.demo.cases import STATE_CODE, Workflow, plan_workflow, previous_at_same_place
from fieldapp.demo.frame import DEFAULT_DAYS, DEFAULT_REPORTS, CityFrame
from fieldapp.demo.reports import (
    GROUP_INCIDENT_THRESHOLD,
    Checkins,
    ClusterSpec,
    ReportPlan,
    inject_clusters,
    plan_checkins,
    plan_reports,
)
from fieldapp.workflow import State

Array = npt.NDArray[Any]


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class HistoryPlan:
    reports: ReportPlan
    workflow: Workflow
    checkins: Checkins | None
    group_threshold: int = GROUP_INCIDENT_THRESHOLD
    """People involved from which a report is a potential group incident (app config)."""
    case_numbers: Array | None = None
    """reports.case_number per report, given by the loader from the database's prefixes and
    counters (`number_cases`); None leaves them to the insert trigger (migration 0008)."""

    @functools.cached_property
    def prev_place_at(self) -> Array:
        """reports.prev_place_at, epoch seconds (NO_TIME for NULL)."""
        return previous_at_same_place(
            self.reports.cell,
            self.reports.category,
            self.reports.reported_at,
            self.workflow.ids,
            self.workflow.status == STATE_CODE[State.MERGED],
        )

    def counts(self) -> dict[str, Any]:
        return {
            "reports": len(self.reports),
            "injected": int((self.reports.cluster >= 0).sum()),
            "by_status": self.workflow.status_counts(),
            "events": int(self.workflow.ev_report.size),
            "checkins": len(self.checkins) if self.checkins is not None else 0,
        }


def plan_history(
    frame: CityFrame,
    *,
    reports: int = DEFAULT_REPORTS,
    days: int = DEFAULT_DAYS,
    end_date: date,
    seed: int = 1,
    clusters: Sequence[ClusterSpec] = (),
    checkins: bool = True,
    policy: DeadlinePolicy | None = None,
    random_ids: bool = False,
    group_threshold: int = GROUP_INCIDENT_THRESHOLD,
) -> HistoryPlan:
    """Reports (with clusters), their cases and the check-ins, without a database."""
    plan = plan_reports(frame, reports=reports, days=days, end_date=end_date, seed=seed)
    if clusters:
        plan = inject_clusters(plan, clusters)
    workflow = plan_workflow(plan, policy=policy, random_ids=random_ids)
    ck = plan_checkins(plan) if checkins else None
    return HistoryPlan(plan, workflow, ck, group_threshold)
