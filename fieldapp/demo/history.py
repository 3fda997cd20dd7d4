"""The report history generator: a year of plausible reports, cases and check-ins for demos and
benchmarks (`fieldapp demo history`; issue "Roll-ups … §6").

Two halves:

- **Planning** (pure numpy, no database): `plan_reports` → `inject_clusters` → `plan_workflow`
  → `plan_checkins`, or all of it at once with `plan_history`. It works on a `CityFrame` (cells
  with their chain, population, polygon and officer; coordinators, county staff, departments),
  read from the database by `read_city` or built from boundary features by
  `city_frame_from_features`, so the early-warning evaluation can plan and inject clusters
  without a database.
- **Loading** (`load_history`): PostgreSQL COPY through psycopg 3's `cursor.copy()`, in the
  caller's transaction (all or nothing), then `ANALYZE`.

The model, kept deliberately simple (every number below is a named constant in this module):

*Where and when.* The number of reports is Poisson with mean N. Each report's cell is drawn
with probability proportional to the cell's population, so every cell has a Poisson count with
rate ∝ population. Cells **without an officer get no reports** (nobody would have filed them;
the demo city has one officer per cell, the small test city only a few). Day and category are
drawn from a day × category weight table: category shares (`CATEGORY_WEIGHTS`), weekdays
busier than Saturdays and Sundays (`WEEKDAY_FACTOR`), the 28 days before the Spring Festival
busier (wage arrears ×2.5, family ×1.3: debts are settled and families meet before the new
year), the Festival week quieter, and the wheat (1–20 June) and autumn (20 Sep–20 Oct) harvests
with more land and neighbour disputes. Hour of day follows office-hours weights; the report is
filed minutes to hours after it happened (log-normal, median 45 min). China has used UTC+8 all
year since 1991, so local days are fixed offsets from UTC.

*What.* Severity ≈ 60 % yellow, 30 % orange, 10 % red; people involved 1 + Poisson (more for
red) with a tail of group cases (≥ 5); a point uniformly inside the cell polygon (rejection
sampling in the cell's bounds, vectorised over all reports); title and description from a
small set of templates per category, the description labelled 【示例】.

*The case.* Every report gets a path through `fieldapp.workflow.TRANSITIONS` chosen by a few
random flags (resolved on site — mostly yellow —, rejected, merged as a duplicate, accepted
late, returned by a wrong department, extension, escalation to the county, sent back, closing
late or stalling), with event times anchored on the `DeadlinePolicy` due times. The flags of a
report pick a fixed action sequence; each sequence is checked with `workflow.decide()` when it
is built. The sequence is then replayed with the same effects as `fieldapp.services.cases`
(acceptance clock at intake, handling clock from acceptance, a new clock on escalation, due
time + extension days, on-time flags against the due time in force), truncated at the end of
the period: recent reports stay open in whatever state they had reached. Red cases that
overrun are escalated by "the sweep" (actor NULL, as `services.sweep` does), so no red case is
left overdue. About 2 % of reports are merged into an earlier open report of the same cell and
category from the last 7 days (the earlier case also gets the service's `merged_in` event).
Actors: the township coordinator (the county's staff after escalation) for owner steps, one
handler per department for department steps.

*Check-ins.* Every officer, every day, except: ~3 % of officers are "silent" (miss 35–80 % of
days) and everyone misses a few (0.5–4 %). Missing is independent of reports filed that day.
The count is the officer's reports filed that day.

*Clusters* (`ClusterSpec`, `--cluster`): Poisson extra reports of one category in a cell and
its nearest cells for some days, for the hotspot and early-warning work; `inject_clusters` is
pure so an evaluation can use it on a plan without a database.

Not generated: parties, photos, supervision orders (督办), denied extensions, notifications and
the audit log. `notified_light` is the light at the end of the period, as the sweep would have
left it, so the first sweep after loading does not warn about every old case at once.

Deterministic: the same frame, parameters and seed give the same rows, ids included (ids come
from the seeded generator). With `--append` the ids come from the OS instead, so a second load
with the same seed never collides; the other columns stay deterministic.

The stages live in `fieldapp.demo.frame`, `.reports`, `.cases`, `.plan` and `.load`; this
module gathers their public names for the command line, the benchmarks and the tests.
"""

from __future__ import annotations

from fieldapp.demo.cases import (
    ACTION_NAMES,
    CLOSE_LATE_SHARE,
    DEPARTMENT_ACTIONS,
    DEPARTMENT_KEYWORDS,
    EXTENSION_DAYS,
    EXTENSION_SHARE,
    FOLLOW_UP_SHARE,
    LATE_ACCEPTANCE,
    LIGHTS,
    MANUAL_ESCALATION,
    MERGE_SHARE,
    MERGE_WINDOW_S,
    MERGED_IN,
    ON_SITE,
    ON_SITE_STABILISED,
    OUTCOMES,
    PROGRESS_NOTES,
    REASONS,
    REJECT,
    RETURN_SHARE,
    SATISFACTION_SHARES,
    SATISFACTIONS,
    SEND_BACK_SHARE,
    STABILISED,
    STALLED_DAYS,
    STALLED_SHARE,
    STATES,
    STEPS,
    SWEEP_LATENCY_S,
    SWEEP_REASON,
    Workflow,
    actor_relation,
    plan_workflow,
    previous_at_same_place,
    uuid_strings,
)
from fieldapp.demo.frame import (
    CATEGORY_WEIGHTS,
    CHINA_OFFSET_S,
    DAY_S,
    DEFAULT_CLUSTER_CATEGORY,
    DEFAULT_CLUSTER_RADIUS,
    DEFAULT_DAYS,
    DEFAULT_REPORTS,
    NO_TIME,
    CityFrame,
    DepartmentInfo,
    HistoryError,
    HistoryExists,
    china_today,
    city_frame_from_features,
    day_start,
    default_end_date,
    fill_population,
    read_city,
)
from fieldapp.demo.load import (
    CHECKIN_COLUMNS,
    COPY_ALWAYS_TRIGGERS,
    COPY_COLUMNS,
    COPY_COMPUTED_TRIGGERS,
    EVENT_COLUMNS,
    NULL,
    REPORT_COLUMNS,
    case_number_sequence,
    copy_pieces,
    load_history,
    number_cases,
    save_clusters,
)
from fieldapp.demo.plan import (
    HistoryPlan,
    plan_history,
)
from fieldapp.demo.reports import (
    CHECKIN_HOURS,
    FESTIVAL_WEEK_FACTOR,
    GROUP_INCIDENT_THRESHOLD,
    GROUP_TAIL,
    HARVEST_CATEGORY,
    HARVEST_FACTOR,
    HARVESTS,
    HOUR_WEIGHTS,
    PEOPLE_POISSON,
    PRE_FESTIVAL_CATEGORY,
    PRE_FESTIVAL_DAYS,
    PRE_FESTIVAL_FACTOR,
    REPORT_DELAY_MEDIAN_S,
    REPORT_DELAY_RANGE_S,
    REPORT_DELAY_SIGMA,
    SEVERITY_BY_CODE,
    SEVERITY_SHARES,
    SILENT_MISS,
    SILENT_OFFICER_SHARE,
    SPRING_FESTIVAL,
    TEMPLATES,
    TEMPLATES_PER_CATEGORY,
    UNKNOWN_CATEGORY_WEIGHT,
    USUAL_MISS,
    WEEKDAY_FACTOR,
    Checkins,
    ClusterSpec,
    InjectedCluster,
    ReportPlan,
    day_category_weights,
    inject_clusters,
    parse_cluster,
    plan_checkins,
    plan_reports,
)

__all__ = [
    "ACTION_NAMES",
    "CATEGORY_WEIGHTS",
    "CHECKIN_COLUMNS",
    "CHECKIN_HOURS",
    "CHINA_OFFSET_S",
    "CLOSE_LATE_SHARE",
    "COPY_ALWAYS_TRIGGERS",
    "COPY_COLUMNS",
    "COPY_COMPUTED_TRIGGERS",
    "Checkins",
    "CityFrame",
    "ClusterSpec",
    "DAY_S",
    "DEFAULT_CLUSTER_CATEGORY",
    "DEFAULT_CLUSTER_RADIUS",
    "DEFAULT_DAYS",
    "DEFAULT_REPORTS",
    "DEPARTMENT_ACTIONS",
    "DEPARTMENT_KEYWORDS",
    "DepartmentInfo",
    "EVENT_COLUMNS",
    "EXTENSION_DAYS",
    "EXTENSION_SHARE",
    "FESTIVAL_WEEK_FACTOR",
    "FOLLOW_UP_SHARE",
    "GROUP_INCIDENT_THRESHOLD",
    "GROUP_TAIL",
    "HARVESTS",
    "HARVEST_CATEGORY",
    "HARVEST_FACTOR",
    "HOUR_WEIGHTS",
    "HistoryError",
    "HistoryExists",
    "HistoryPlan",
    "InjectedCluster",
    "LATE_ACCEPTANCE",
    "LIGHTS",
    "MANUAL_ESCALATION",
    "MERGED_IN",
    "MERGE_SHARE",
    "MERGE_WINDOW_S",
    "NO_TIME",
    "NULL",
    "ON_SITE",
    "ON_SITE_STABILISED",
    "OUTCOMES",
    "PEOPLE_POISSON",
    "PRE_FESTIVAL_CATEGORY",
    "PRE_FESTIVAL_DAYS",
    "PRE_FESTIVAL_FACTOR",
    "PROGRESS_NOTES",
    "REASONS",
    "REJECT",
    "REPORT_COLUMNS",
    "REPORT_DELAY_MEDIAN_S",
    "REPORT_DELAY_RANGE_S",
    "REPORT_DELAY_SIGMA",
    "RETURN_SHARE",
    "ReportPlan",
    "SATISFACTIONS",
    "SATISFACTION_SHARES",
    "SEND_BACK_SHARE",
    "SEVERITY_BY_CODE",
    "SEVERITY_SHARES",
    "SILENT_MISS",
    "SILENT_OFFICER_SHARE",
    "SPRING_FESTIVAL",
    "STABILISED",
    "STALLED_DAYS",
    "STALLED_SHARE",
    "STATES",
    "STEPS",
    "SWEEP_LATENCY_S",
    "SWEEP_REASON",
    "TEMPLATES",
    "TEMPLATES_PER_CATEGORY",
    "UNKNOWN_CATEGORY_WEIGHT",
    "USUAL_MISS",
    "WEEKDAY_FACTOR",
    "Workflow",
    "actor_relation",
    "case_number_sequence",
    "china_today",
    "city_frame_from_features",
    "copy_pieces",
    "day_category_weights",
    "day_start",
    "default_end_date",
    "fill_population",
    "inject_clusters",
    "load_history",
    "number_cases",
    "parse_cluster",
    "plan_checkins",
    "plan_history",
    "plan_reports",
    "plan_workflow",
    "previous_at_same_place",
    "read_city",
    "save_clusters",
    "uuid_strings",
]
