"""Loading a planned history (`load_history`): PostgreSQL COPY through psycopg 3's
`cursor.copy()`, in the caller's transaction (all or nothing), then `ANALYZE`.

Not generated: parties, photos, supervision orders (督办), denied extensions, notifications and
the audit log. `notified_light` is the light at the end of the period, as the sweep would have
left it, so the first sweep after loading does not warn about every old case at once.

Deterministic: the same frame, parameters and seed give the same rows, ids included (ids come
from the seeded generator). With `--append` the ids come from the OS instead, so a second load
with the same seed never collides; the other columns stay deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp.deadlines import DeadlinePolicy
from fieldapp.demo.cases import (
    ACTION_CODE,
    ACTION_NAMES,
    LIGHTS,
    MERGED_IN,
    OUTCOMES,
    REASON_TEXTS,
    SATISFACTIONS,
    STATES,
    STEPS,
    hex_digits,
)
from fieldapp.demo.frame import (
    CHINA_OFFSET_S,
    DAY_S,
    DEFAULT_DAYS,
    DEFAULT_REPORTS,
    NO_TIME,
    HistoryError,
    HistoryExists,
    china_today,
    default_end_date,
    read_city,
)
from fieldapp.demo.plan import HistoryPlan, plan_history
from fieldapp.demo.reports import (
    GROUP_INCIDENT_THRESHOLD,
    SEVERITY_BY_CODE,
    TEMPLATES,
    TEMPLATES_PER_CATEGORY,
    ClusterSpec,
)
from fieldapp.domain import CHINA_TZ
from fieldapp.workflow import (
    ESCALATION_LEVELS,
    Action,
)

Array = npt.NDArray[Any]

#: The triggers of migration 0007, whose work the loader does itself — reports.prev_place_at
#: in the COPY text (previous_at_same_place), checkin_months recounted after the COPY — so a
#: COPY with triggers off loses nothing.
COPY_COMPUTED_TRIGGERS: Final = (
    "reports_place_before_insert",
    "reports_place_after_insert",
    "reports_place_after_update",
    "reports_place_after_delete",
    "checkins_months_after_write",
    "checkins_months_after_update",
)


#: Triggers that fire during the COPY anyway (ENABLE ALWAYS, so also with the per-row
#: foreign-key checks off): reports.case_number (migration 0008). The loader gives the
#: numbers itself (`number_cases`), so the trigger only sees them set and passes: numbering
#: row by row in one transaction would update each county's counter row hundreds of
#: thousands of times, and each update walks the row's growing chain of versions.
COPY_ALWAYS_TRIGGERS: Final = ("reports_case_number",)


def case_number_sequence(groups: Array, reported_at: Array, ids: Array, start: Array) -> Array:
    """Each report's number within its (prefix, year) group: `start[group] + 1` for the
    group's first in (reported_at, id) order, then 2, 3, … (as migration 0008 numbers the
    reports it finds)."""
    n = groups.size
    order = np.lexsort((ids, reported_at, groups))
    sorted_groups = groups[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_groups[1:] != sorted_groups[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    out = np.empty(n, dtype=np.int64)
    out[order] = start[sorted_groups] + rank + 1
    return out


def number_cases(cur: Any, h: HistoryPlan) -> tuple[Array, dict[tuple[str, int], int]]:
    """The case numbers of a history about to be loaded, continuing the database's counters
    (locked until the load commits, so intake meanwhile waits rather than collides), and
    each counter's new last number."""
    p = h.reports
    county = p.frame.county_ids[p.cell]
    # Raw SQL on the loader's cursor: the prefix rule is the database's (migration 0008).
    cur.execute("LOCK TABLE case_number_counters IN EXCLUSIVE MODE")
    unique_counties = np.unique(county)
    prefixes = dict(
        cur.execute(
            "SELECT c, case_number_prefix(c) FROM unnest(%s::int[]) AS c",
            (unique_counties.tolist(),),
        ).fetchall()
    )
    counters = {
        (prefix, int(year)): int(last)
        for prefix, year, last in cur.execute(
            "SELECT prefix, year, last_number FROM case_number_counters"
        ).fetchall()
    }
    years = (p.reported_at + CHINA_OFFSET_S).astype("datetime64[s]").astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    prefix_of = np.asarray([prefixes[int(c)] for c in unique_counties], dtype=object)
    prefix_index = np.searchsorted(unique_counties, county)
    keys = sorted({(prefix_of[i], int(y)) for i, y in zip(prefix_index, year, strict=True)})
    key_index = {k: i for i, k in enumerate(keys)}
    groups = np.asarray(
        [key_index[(prefix_of[i], int(y))] for i, y in zip(prefix_index, year, strict=True)],
        dtype=np.int64,
    )
    start = np.asarray([counters.get(k, 0) for k in keys], dtype=np.int64)
    seq = case_number_sequence(groups, p.reported_at, h.workflow.ids, start)
    numbers = np.asarray(
        [
            f"{keys[g][0]}-{keys[g][1]}-{n:06d}"
            for g, n in zip(groups.tolist(), seq.tolist(), strict=True)
        ],
        dtype=object,
    )
    last = {k: int(seq[groups == i].max()) for i, k in enumerate(keys)}
    return numbers, last


def _save_counters(cur: Any, last: Mapping[tuple[str, int], int]) -> None:
    for (prefix, year), number in last.items():
        cur.execute(
            "INSERT INTO case_number_counters AS c (prefix, year, last_number) "
            "VALUES (%s, %s, %s) ON CONFLICT (prefix, year) "
            "DO UPDATE SET last_number = greatest(c.last_number, EXCLUDED.last_number)",
            (prefix, year, number),
        )


# --- COPY text ---------------------------------------------------------------------------------

NULL = "\\N"
REPORT_COLUMNS = (
    "id",
    "officer_id",
    "cell_id",
    "village_id",
    "township_id",
    "county_id",
    "geom",
    "input_lon",
    "input_lat",
    "input_crs",
    "accuracy_m",
    "outside_own_cells",
    "distance_to_own_cells_m",
    "occurred_at",
    "reported_at",
    "category",
    "severity",
    "people_involved",
    "potential_group_incident",
    "title",
    "description",
    "status",
    "version",
    "owner_level",
    "owner_area_id",
    "department_id",
    "step",
    "step_started_at",
    "due_at",
    "notified_light",
    "extension_days_requested",
    "extension_days_granted",
    "accepted_at",
    "accepted_on_time",
    "closed_at",
    "closed_on_time",
    "outcome",
    "satisfaction",
    "merged_into_id",
    "body_hash",
    "prev_place_at",
    "case_number",
)
EVENT_COLUMNS = (
    "report_id",
    "actor_id",
    "at",
    "action",
    "from_status",
    "to_status",
    "reason",
    "data",
)
CHECKIN_COLUMNS = ("officer_id", "day", "nothing_to_report", "count", "checked_in_at")
_EWKB_POINT_4326 = "0101000020e6100000"  # little-endian, Point with SRID, 4326


def _strings(values: Sequence[str], index: Array, null: Array | None = None) -> list[str]:
    out = np.asarray(values, dtype=object)[np.maximum(index, 0)]
    if null is not None:
        out[null] = NULL
    return list(out.tolist())


def _ints(a: Array, null: Array | None = None) -> list[str]:
    out = a.astype(str).astype(object)
    if null is not None:
        out[null] = NULL
    return list(out.tolist())


def _floats(a: Array) -> list[str]:
    return [repr(x) for x in a.tolist()]


def _times_text(a: Array) -> list[str]:
    """Epoch seconds → 'YYYY-MM-DD HH:MM:SS+00' (NULL for NO_TIME), from a table of the days
    in range and one of the 86,400 times of day: five times faster than formatting each."""
    out = np.full(a.size, NULL, dtype=object)
    valid = a != NO_TIME
    if valid.any():
        days, seconds = np.divmod(a[valid], DAY_S)
        first, last = int(days.min()), int(days.max())
        epoch = date(1970, 1, 1).toordinal()
        names = np.array(
            [date.fromordinal(epoch + d).isoformat() for d in range(first, last + 1)], dtype=object
        )
        out[valid] = names[days - first] + _times_of_day()[seconds]
    return list(out.tolist())


@functools.cache
def _times_of_day() -> Array:
    return np.array(
        [f" {h:02d}:{m:02d}:{s:02d}+00" for h in range(24) for m in range(60) for s in range(60)],
        dtype=object,
    )


def _flags(a: Array) -> list[str]:
    """-1/0/1 → NULL/f/t."""
    return _strings(("f", "t"), a.astype(np.int64), a < 0)


def _ids(ids: Array) -> list[str]:
    return list(ids.astype("U36").tolist())


def _report_text(h: HistoryPlan, lo: int, hi: int) -> str:
    p, w = h.reports, h.workflow
    f = p.frame
    cell = p.cell[lo:hi]
    m = hi - lo
    ids = _ids(w.ids[lo:hi])
    xy = np.column_stack([p.lon[lo:hi], p.lat[lo:hi]]).astype("<f8")
    geom_hex = hex_digits(xy.view(np.uint8).reshape(m, 16)).view("S32").ravel().astype("U32")
    category = p.category[lo:hi]
    names = [TEMPLATES.get(c, TEMPLATES["other"]) for c in f.categories]
    text_index = category.astype(np.int64) * TEMPLATES_PER_CATEGORY + p.text[lo:hi]
    titles = [t for per in names for t, _d in per]
    bodies = [d for per in names for _t, d in per]
    people = p.people[lo:hi]
    description = [
        f"【示例】{body}（涉及{n}人）"
        for body, n in zip(_strings(bodies, text_index), people.tolist(), strict=True)
    ]
    dept = w.department[lo:hi]
    dept_ids = np.array([d.id for d in f.departments] + [0], dtype=np.int64)
    merged = w.merged_into[lo:hi]
    columns: list[list[str]] = [
        ids,
        _ints(p.officer[lo:hi]),
        _ints(f.cell_ids[cell]),
        _ints(f.village_ids[cell]),
        _ints(f.township_ids[cell]),
        _ints(f.county_ids[cell]),
        [_EWKB_POINT_4326 + g for g in geom_hex.tolist()],
        _floats(p.lon[lo:hi]),
        _floats(p.lat[lo:hi]),
        _repeat("wgs84", m),
        _floats(p.accuracy_m[lo:hi]),
        _repeat("f", m),
        _repeat("0", m),
        _times_text(p.occurred_at[lo:hi]),
        _times_text(p.reported_at[lo:hi]),
        _strings(f.categories, category.astype(np.int64)),
        _strings(SEVERITY_BY_CODE, p.severity[lo:hi].astype(np.int64)),
        _ints(people),
        _flags((people >= h.group_threshold).astype(np.int8)),
        _strings(titles, text_index),
        description,
        _strings([s.value for s in STATES], w.status[lo:hi].astype(np.int64)),
        _ints(w.version[lo:hi]),
        _strings(ESCALATION_LEVELS, w.owner_level[lo:hi].astype(np.int64)),
        _ints(w.owner_area_id[lo:hi]),
        _ints(dept_ids[dept], dept < 0),
        _strings([s or "" for s in STEPS], w.step[lo:hi].astype(np.int64), w.step[lo:hi] == 0),
        _times_text(w.step_started_at[lo:hi]),
        _times_text(w.due_at[lo:hi]),
        _strings(LIGHTS, w.notified_light[lo:hi].astype(np.int64)),
        _ints(w.extension_days_requested[lo:hi], w.extension_days_requested[lo:hi] == 0),
        _ints(w.extension_days_granted[lo:hi]),
        _times_text(w.accepted_at[lo:hi]),
        _flags(w.accepted_on_time[lo:hi]),
        _times_text(w.closed_at[lo:hi]),
        _flags(w.closed_on_time[lo:hi]),
        _strings([o.value for o in OUTCOMES], w.outcome[lo:hi], w.outcome[lo:hi] < 0),
        _strings(
            [s.value for s in SATISFACTIONS], w.satisfaction[lo:hi], w.satisfaction[lo:hi] < 0
        ),
        _strings(_ids(w.ids[np.maximum(merged, 0)]), np.arange(m), merged < 0),
        # The body hash is SHA-256 of the phone's request; here a digest of the random id.
        [hashlib.sha256(i.encode()).hexdigest() for i in ids],
        _times_text(h.prev_place_at[lo:hi]),
        _repeat(NULL, m) if h.case_numbers is None else list(h.case_numbers[lo:hi].tolist()),
    ]
    return _lines(columns)


def _repeat(value: str, n: int) -> list[str]:
    return [value] * n


def _lines(columns: Sequence[Sequence[str]]) -> str:
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _event_text(h: HistoryPlan, lo: int, hi: int) -> str:
    w, f = h.workflow, h.reports.frame
    action = w.ev_action[lo:hi].astype(np.int64)
    value = w.ev_value[lo:hi]
    data = np.full(hi - lo, "{}", dtype=object)

    def put(codes: Sequence[int], texts: Array) -> None:
        mask = np.isin(action, codes)
        if mask.any():
            data[mask] = texts[mask]

    def lookup(table: Sequence[str], index: Array) -> Array:
        return np.asarray(table, dtype=object)[np.clip(index, 0, len(table) - 1)]

    # The same data the services write (cases._assign, _return, …, sweep._escalate).
    put(
        [ACTION_CODE[Action.ASSIGN]],
        lookup([_json(department=d.code) for d in f.departments], value),
    )
    put(
        [ACTION_CODE[Action.RETURN]],
        lookup([_json(department_id=d.id) for d in f.departments], value),
    )
    extension = np.isin(
        action, [ACTION_CODE[Action.REQUEST_EXTENSION], ACTION_CODE[Action.APPROVE_EXTENSION]]
    )
    days = [_json(days=d) for d in range(int(value[extension].max(initial=0)) + 1)]
    put(
        [ACTION_CODE[Action.REQUEST_EXTENSION], ACTION_CODE[Action.APPROVE_EXTENSION]],
        lookup(days, value),
    )
    manual = lookup([_json(to_level=level) for level in ESCALATION_LEVELS], value)
    automatic = lookup(
        [_json(automatic=True, to_level=level) for level in ESCALATION_LEVELS], value
    )
    put([ACTION_CODE[Action.ESCALATE]], np.where(w.ev_automatic[lo:hi], automatic, manual))
    outcomes = lookup([_json(outcome=o.value) for o in OUTCOMES], value)
    put([ACTION_CODE[Action.RESOLVE_ON_SITE], ACTION_CODE[Action.APPROVE_CLOSING]], outcomes)
    put(
        [ACTION_CODE[Action.FOLLOW_UP]],
        lookup([_json(satisfaction=s.value) for s in SATISFACTIONS], value),
    )
    for code, name in ((ACTION_CODE[Action.MERGE], "into"), (MERGED_IN, "duplicate")):
        mask = action == code
        if mask.any():
            others = _ids(w.ids[value[mask]])
            data[mask] = np.asarray([_json(**{name: o}) for o in others], dtype=object)
    reason = w.ev_reason[lo:hi].astype(np.int64)
    columns = [
        _ids(w.ids[w.ev_report[lo:hi]]),
        _ints(w.ev_actor[lo:hi], w.ev_actor[lo:hi] == 0),
        _times_text(w.ev_at[lo:hi]),
        _strings(ACTION_NAMES, action),
        _strings([s.value for s in STATES], w.ev_from[lo:hi].astype(np.int64)),
        _strings([s.value for s in STATES], w.ev_to[lo:hi].astype(np.int64)),
        _strings(REASON_TEXTS, reason, reason < 0),
        list(data.tolist()),
    ]
    return _lines(columns)


def _json(**values: Any) -> str:
    return json.dumps(values, ensure_ascii=False)


def _checkin_text(h: HistoryPlan, lo: int, hi: int) -> str:
    c = h.checkins
    assert c is not None
    days = [(h.reports.start + timedelta(days=d)).isoformat() for d in range(h.reports.days)]
    count = c.count[lo:hi]
    columns = [
        _ints(c.officer[lo:hi]),
        _strings(days, c.day[lo:hi].astype(np.int64)),
        _flags((count == 0).astype(np.int8)),
        _ints(count),
        _times_text(c.checked_in_at[lo:hi]),
    ]
    return _lines(columns)


def copy_pieces(h: HistoryPlan, table: str, piece_rows: int = 20_000) -> Iterator[tuple[int, str]]:
    """(rows, COPY text) pieces of one table's rows, in load order (reports by filing time,
    so a case is always loaded before a duplicate merged into it)."""
    if table == "reports":
        total, render = len(h.reports), _report_text
    elif table == "case_events":
        total, render = int(h.workflow.ev_report.size), _event_text
        piece_rows *= 5  # events are narrow rows
    elif table == "checkins":
        total, render = (len(h.checkins) if h.checkins else 0), _checkin_text
        piece_rows *= 5
    else:
        raise ValueError(table)
    for lo in range(0, total, piece_rows):
        hi = min(lo + piece_rows, total)
        yield hi - lo, render(h, lo, hi)


COPY_COLUMNS = {
    "reports": REPORT_COLUMNS,
    "case_events": EVENT_COLUMNS,
    "checkins": CHECKIN_COLUMNS,
}


def load_history(
    session: Session,
    *,
    reports: int = DEFAULT_REPORTS,
    days: int = DEFAULT_DAYS,
    seed: int = 1,
    end_date: date | None = None,
    clusters: Sequence[ClusterSpec] = (),
    append: bool = False,
    checkins: bool = True,
    policy: DeadlinePolicy | None = None,
    group_threshold: int = GROUP_INCIDENT_THRESHOLD,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    analyze: bool = True,
    fast_foreign_keys: bool = True,
) -> dict[str, Any]:
    """Plan and load a report history in the caller's transaction (commit = all of it,
    rollback = none of it); returns a summary (counts, clusters, timings).

    Pass the app's `DEADLINE_POLICY` and `GROUP_INCIDENT_THRESHOLD` so the history follows
    the deployment's rules. Refuses (HistoryExists) when reports exist, unless `append`.
    With `fast_foreign_keys` and a superuser connection, the referenced rows are locked and
    checked once and the per-row foreign-key triggers are off during COPY (see
    `_guard_foreign_keys`)."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    end_date = end_date or default_end_date(now)
    if end_date >= china_today(now):
        raise HistoryError(
            f"--end-date {end_date} is not in the past: the history runs to the midnight after "
            "it, which must not be in the future (China time)"
        )
    if not append and session.execute(text("SELECT EXISTS (SELECT 1 FROM reports)")).scalar():
        count: int = session.execute(text("SELECT count(*) FROM reports")).scalar_one()
        raise HistoryExists(
            f"the database already has {count:,} reports, so no history was generated. Run "
            "again with --append to add to them (new ids, nothing overwritten), or load into "
            "a database without reports."
        )
    frame = read_city(session)
    session.flush()
    with_officer = int((frame.officer_of_cell > 0).sum())
    say(
        f"planning ~{reports:,} reports over {days} days to {end_date} (seed {seed}) in "
        f"{with_officer:,} of {len(frame.cell_codes):,} cells (cells without an officer get none)"
    )
    h = plan_history(
        frame,
        reports=reports,
        days=days,
        end_date=end_date,
        seed=seed,
        clusters=clusters,
        checkins=checkins,
        policy=policy,
        random_ids=append,
        group_threshold=group_threshold,
    )
    planned = time.perf_counter()
    counts = h.counts()
    say(
        f"planned {counts['reports']:,} reports ({counts['injected']:,} from clusters), "
        f"{counts['events']:,} events, {counts['checkins']:,} check-ins "
        f"in {planned - started:.1f} s"
    )

    # COPY runs on the session's own connection, so it is inside the caller's transaction.
    raw: Any = session.connection().connection.driver_connection
    cur = raw.cursor()
    numbers, last_numbers = number_cases(cur, h)
    h = replace(h, case_numbers=numbers)
    fast = fast_foreign_keys and _guard_foreign_keys(cur, h)
    say(
        "foreign keys: referenced rows locked and checked once, per-row checks off"
        if fast
        else "foreign keys: checked per row"
    )
    copy_started = time.perf_counter()
    try:
        _copy(cur, h, "reports", say, statement_rows=100_000)
        _copy(cur, h, "case_events", say, statement_rows=500_000)
        if h.checkins is not None and len(h.checkins):
            if append and _checkins_overlap(cur, h):
                _merge_checkins(cur, h, say)
            else:
                _copy(cur, h, "checkins", say, statement_rows=500_000)
    finally:
        if fast:
            cur.execute("SET LOCAL session_replication_role TO DEFAULT")
    _save_counters(cur, last_numbers)
    if fast and h.checkins is not None and len(h.checkins):
        _recount_checkin_months(cur, h.reports.start, h.reports.end)
    key_cases = _flag_key_cases(cur, h.reports.start, h.reports.end + timedelta(days=1))
    say(f"key backlog cases (重点积案) flagged: {key_cases:,}")
    copied = time.perf_counter()
    if analyze:
        cur.execute("ANALYZE reports, case_events, checkins")
        say(f"analyzed in {time.perf_counter() - copied:.1f} s")
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        "period": {"from": h.reports.start.isoformat(), "to": h.reports.end.isoformat()},
        "seed": seed,
        **counts,
        "clusters": [c.as_dict() for c in h.reports.clusters],
        "plan_seconds": round(planned - started, 2),
        "copy_seconds": round(copied - copy_started, 2),
        "seconds": round(seconds, 2),
        "reports_per_s": round(counts["reports"] / max(seconds, 1e-9)),
        "fast_foreign_keys": fast,
        "key_cases": key_cases,
    }
    summary["events"] += key_cases  # each flag is on the case's record
    status = ", ".join(f"{k} {v:,}" for k, v in counts["by_status"].items())
    say(
        f"done: {counts['reports']:,} reports ({status}); {counts['events']:,} events; "
        f"{counts['checkins']:,} check-ins; {summary['reports_per_s']:,} reports/s overall"
    )
    return summary


# Key backlog cases (重点积案) of the history: about one in a hundred of the serious reports
# (red, or a potential group incident) filed at least a month before its end, each with a
# responsible leader (包案领导) and a target date 90 days after its report, flagged by the
# system three days after it came in. Chosen by a hash of the id, so the same seed gives the
# same cases.
_KEY_LEADERS = ("分管副县长", "政法委副书记", "信访局局长", "镇党委书记", "镇长", "司法所所长")
_FLAG_KEY_CASES = """
WITH chosen AS (
    SELECT r.id, r.status, r.reported_at,
        (%(leaders)s::text[])[1 + abs(hashtext(r.id::text || 'leader')) %% %(n_leaders)s]
            AS leader,
        ((r.reported_at AT TIME ZONE %(tz)s)::date + 90) AS target
    FROM reports r
    WHERE r.reported_at >= %(start)s AND r.reported_at < %(end)s - interval '30 days'
      AND (r.severity = 'red' OR r.potential_group_incident)
      AND r.status NOT IN ('merged', 'rejected') AND NOT r.is_key_case
      AND abs(hashtext(r.id::text)) %% 100 = 0
), flagged AS (
    UPDATE reports r
    SET is_key_case = true, key_leader = c.leader, key_target_date = c.target
    FROM chosen c WHERE r.id = c.id
    RETURNING r.id
)
INSERT INTO case_events (report_id, actor_id, at, action, from_status, to_status, data)
SELECT c.id, NULL, c.reported_at + interval '3 days', 'key_case', c.status, c.status,
    jsonb_build_object(
        'before', jsonb_build_object('is_key_case', false, 'leader', NULL, 'target_date', NULL),
        'after', jsonb_build_object(
            'is_key_case', true, 'leader', c.leader, 'target_date', c.target::text))
FROM chosen c JOIN flagged f ON f.id = c.id
"""


def _flag_key_cases(cur: Any, start: date, end: date) -> int:
    """Flag the key backlog cases among the reports filed from `start` to before `end`
    (China-time days; see _FLAG_KEY_CASES); returns how many."""
    cur.execute(
        _FLAG_KEY_CASES,
        {
            "leaders": list(_KEY_LEADERS),
            "n_leaders": len(_KEY_LEADERS),
            "tz": CHINA_TZ.key,
            "start": datetime(start.year, start.month, start.day, tzinfo=CHINA_TZ),
            "end": datetime(end.year, end.month, end.day, tzinfo=CHINA_TZ),
        },
    )
    return int(cur.rowcount)


def _copy(
    cur: Any, h: HistoryPlan, table: str, say: Callable[[str], None], statement_rows: int
) -> int:
    """COPY a table's rows in statements of about `statement_rows` rows (bounded server
    memory for the after-row trigger queue when FK checks run per row). A writer thread sends
    while the next piece is rendered, so Python and the server work at the same time."""
    from psycopg.copy import QueuedLibpqWriter

    sql = f"COPY {table} ({', '.join(COPY_COLUMNS[table])}) FROM STDIN"
    pieces = copy_pieces(h, table)
    total = {
        "reports": len(h.reports),
        "case_events": int(h.workflow.ev_report.size),
        "checkins": len(h.checkins) if h.checkins else 0,
    }[table]
    sent = 0
    started = time.perf_counter()
    piece = next(pieces, None)
    while piece is not None:
        in_statement = 0
        with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
            while piece is not None and in_statement < statement_rows:
                rows, data = piece
                copy.write(data)
                in_statement += rows
                piece = next(pieces, None)
        sent += in_statement
        elapsed = time.perf_counter() - started
        say(f"{table}: {sent:,}/{total:,} rows ({sent / max(elapsed, 1e-9):,.0f} rows/s)")
    return sent


def _guard_foreign_keys(cur: Any, h: HistoryPlan) -> bool:
    """Per-row FK checks during COPY cost more than the COPY itself (an index probe per key
    and row, and a queue of after-row triggers). Instead: lock every referenced row FOR KEY
    SHARE — what those triggers do — and check they all exist, in one query per table; the
    rows the history points to among its own (cases, duplicates) are consistent by
    construction. Then, if the role may (superuser) and the tables have no triggers of their
    own, switch the FK triggers off for this transaction only. Returns whether it did."""
    f, p, w = h.reports.frame, h.reports, h.workflow
    users = set(p.officer.tolist()) | set(w.ev_actor[w.ev_actor > 0].tolist())
    if h.checkins is not None:
        users |= set(h.checkins.officer.tolist())
    cells = np.unique(p.cell)
    areas = {
        *f.village_ids[cells].tolist(),
        *f.township_ids[cells].tolist(),
        *f.county_ids[cells].tolist(),
        *w.owner_area_id.tolist(),
    }
    departments = {f.departments[i].id for i in np.unique(w.department[w.department >= 0])}
    departments |= {
        f.departments[i].id
        for i in np.unique(w.ev_value[np.isin(w.ev_action, [ACTION_CODE[Action.ASSIGN]])]).tolist()
    }
    checks = [
        ("users", "id", sorted(users)),
        ("cells", "id", sorted(f.cell_ids[cells].tolist())),
        ("areas", "id", sorted(areas)),
        ("departments", "id", sorted(departments)),
        ("categories", "code", sorted({f.categories[i] for i in np.unique(p.category).tolist()})),
    ]
    for table, key, values in checks:
        if not values:
            continue
        # Raw SQL: one locking read per table (the ORM has no FOR KEY SHARE over ANY()).
        found = cur.execute(
            f"SELECT {key} FROM {table} WHERE {key} = ANY(%s) FOR KEY SHARE", (values,)
        ).fetchall()
        if len(found) != len(values):
            raise HistoryError(
                f"{len(values) - len(found)} {table} rows the history refers to have gone "
                "(changed while it was planned?); nothing was written"
            )
    superuser = cur.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()[0]
    # Triggers whose work the COPY text already holds (reports.prev_place_at) may be skipped;
    # any other would be silently lost.
    own_triggers = cur.execute(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY("
        "ARRAY['reports'::regclass, 'case_events'::regclass, 'checkins'::regclass]) "
        "AND tgname <> ALL(%s)",
        ([*COPY_COMPUTED_TRIGGERS, *COPY_ALWAYS_TRIGGERS],),
    ).fetchone()[0]
    if not superuser or own_triggers:
        return False
    cur.execute("SET LOCAL session_replication_role = replica")
    return True


def _recount_checkin_months(cur: Any, first: date, last: date) -> None:
    """checkin_months for the months of [first, last], counted afresh from checkins: its
    triggers were off during the COPY (COPY_COMPUTED_TRIGGERS)."""
    # Raw SQL: a set-based recount on the loader's cursor, inside its transaction.
    cur.execute(
        "DELETE FROM checkin_months WHERE month >= date_trunc('month', %(a)s::date) "
        "AND month <= %(b)s",
        {"a": first, "b": last},
    )
    cur.execute(
        "INSERT INTO checkin_months (officer_id, month, days) "
        "SELECT officer_id, date_trunc('month', day)::date, count(*) FROM checkins "
        "WHERE day >= date_trunc('month', %(a)s::date) "
        "AND day < date_trunc('month', %(b)s::date) + interval '1 month' GROUP BY 1, 2",
        {"a": first, "b": last},
    )


def _checkins_overlap(cur: Any, h: HistoryPlan) -> bool:
    assert h.checkins is not None
    row = cur.execute(
        "SELECT EXISTS (SELECT 1 FROM checkins WHERE day BETWEEN %s AND %s "
        "AND officer_id = ANY(%s))",
        (h.reports.start, h.reports.end, sorted(set(h.checkins.officer.tolist()))),
    ).fetchone()
    return bool(row[0])


def _merge_checkins(cur: Any, h: HistoryPlan, say: Callable[[str], None]) -> None:
    """Appending over days that already have check-ins: add the counts to the existing rows
    (one per officer and day) instead of failing on the unique key."""
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS history_checkins "
        "(officer_id int, day date, nothing_to_report bool, count int, "
        "checked_in_at timestamptz) ON COMMIT DROP"
    )
    cur.execute("TRUNCATE history_checkins")
    with cur.copy(f"COPY history_checkins ({', '.join(CHECKIN_COLUMNS)}) FROM STDIN") as copy:
        for _rows, data in copy_pieces(h, "checkins"):
            copy.write(data)
    # Raw SQL: a set-based upsert of the staged rows.
    cur.execute(
        "INSERT INTO checkins (officer_id, day, nothing_to_report, count, checked_in_at) "
        "SELECT officer_id, day, nothing_to_report, count, checked_in_at FROM history_checkins "
        "ON CONFLICT ON CONSTRAINT uq_checkins_officer_day DO UPDATE SET "
        "count = checkins.count + EXCLUDED.count, "
        "nothing_to_report = checkins.count + EXCLUDED.count = 0, "
        "checked_in_at = greatest(checkins.checked_in_at, EXCLUDED.checked_in_at)"
    )
    say(f"checkins: {len(h.checkins or ()):,} rows merged into the existing days")


def save_clusters(path: Path, clusters: Sequence[Mapping[str, Any]], *, append: bool) -> Path:
    """Write the injected clusters as JSON for the demo (a list; with `append`, added to what
    the file already lists). Written to a temporary file and renamed: never half a file."""
    previous: list[Any] = []
    if append and path.exists():
        try:
            loaded = json.loads(path.read_text("utf-8"))
            previous = loaded if isinstance(loaded, list) else []
        except (OSError, ValueError):
            previous = []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([*previous, *clusters], ensure_ascii=False, indent=2) + "\n", "utf-8")
    tmp.replace(path)
    return path
