"""Hotspot alerts (热点预警): the daily recomputation, the alert list, acknowledging and
supervising (督办) a hotspot.

Statistics come from `maps` only (`maps.early_warning` turns `maps.hotspots` results into
detections); this module reads the counts, persists one alert per hotspot and applies the
workflow side effects. Its SQL is here, each statement with a comment saying why it is raw.

Counting rules, shared by every method:
- a report counts on the China-time (Asia/Shanghai) day it was *received* (`reported_at`),
  not the day it says the dispute happened: a past day's count then never changes after the
  day is over, so each daily analysis is reproducible and alerts do not flicker when an
  officer files about last month;
- reports merged into another (duplicates) are left out, so one dispute counts once;
- the analysis covers complete days only, up to yesterday: a second run on the same day sees
  the same data (and uses the same random seed), so it changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import shapely
from flask_babel import gettext as _
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, CaseEvent, Cell, HotspotAlert, Report, SupervisionOrder, User
from fieldapp.services import audit, notifications
from fieldapp.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from fieldapp.stats import day_start
from fieldapp.workflow import OPEN_STATES
from grid import queries
from maps.early_warning import (
    ALERT_BUDGET_PER_MONTH,
    ALERTING_PATTERNS,
    ActiveAlert,
    Detection,
    budget_problems,
    ebp_detections,
    emerging_detections,
    gi_detections,
    match_detections,
    merge_detections,
    scan_detections,
    stale_alerts,
)
from maps.hotspots import Pattern
from maps.weights import Neighbourhoods, nearest_cells, queen_weights

METHODS = ("scan", "gi_star", "emerging", "ebp")
ALERT_METHODS = ("scan", "ebp")
"""The methods that alert by default, together within the budget of one false alert a month
(`maps.early_warning.ALERT_BUDGET_PER_MONTH`): the permutation scan (0.08 a month by design)
and the scan on each cell's own baseline (0.5 by design; it finds 105 of 240 planted
outbreaks within a week where the scan alone finds 84, docs/early-warning.md). Gi* and
emerging hot spots are map analyses (layers and a table)."""
ACTIVE_STATUSES = ("new", "acknowledged", "supervised")
STATUSES = (*ACTIVE_STATUSES, "expired")
RECOMPUTE_TASK = "workers.tasks.recompute_hotspots"
# Any constant works; it only has to be the same in every process that recomputes.
_ADVISORY_LOCK_KEY = 0x686F7473  # "hots"


@dataclass(frozen=True)
class HotspotSettings:
    """Settings of the daily recomputation; the defaults are the production choice.

    Scan: 365 days of history, cylinders of up to 50 cells (the nearest cells by centroid)
    and up to 30 days, 999 Monte Carlo replicas, alert when the recurrence interval is at
    least 365 days — the analysis runs once a day, so that is p <= 1/365: one false alarm a
    year for the whole city, which a city office can afford to check, while a 100-day
    threshold would be three to four a year. p is read from a Gumbel fit to the replica
    maxima (see `maps.early_warning.scan_detections`).

    Gi*: counts of the last 28 days per cell, queen contiguity of the unsimplified cells,
    analytical p, Benjamini–Hochberg FDR at 0.05.

    Emerging hot spots: 52 weekly steps (the last 364 days), the same weights and FDR, alert
    for new, consecutive, intensifying and persistent hot spots.

    Alerts: a detection re-detects an active alert of the same method sharing a cell if that
    alert was seen in the last `dedupe_days`; an alert not re-detected for `expire_days`
    expires. `category_sets`: each entry is analysed separately (empty = all categories).

    The budget: `methods` are the methods that raise ALERTS, by default the scan alone, since
    the city as a whole may get at most `budget_per_month` false alerts a month (all methods
    and category sets together). Gi* (about 42 a month on cluster-free data) and emerging hot
    spots (about 56) are over it and stay map analyses; listing them here is refused unless
    `over_budget=True` says the operator accepts that. The K `category_sets` share the scan's
    budget by Bonferroni: each is scanned at recurrence K × `scan_min_recurrence_days`, so
    together they raise what one would (see `maps.early_warning.scan_result_detections`).
    """

    methods: tuple[str, ...] = ALERT_METHODS
    scan_history_days: int = 365
    scan_max_cells: int = 50
    scan_max_days: int = 30
    scan_replicas: int = 999
    scan_min_recurrence_days: float = 365.0
    scan_p_value: Literal["gumbel", "monte_carlo"] = "gumbel"
    ebp_history_days: int = 90
    ebp_max_cells: int = 20
    ebp_max_days: int = 7
    ebp_replicas: int = 99
    ebp_min_recurrence_days: float = 60.0
    gi_days: int = 28
    gi_alpha: float = 0.05
    emerging_weeks: int = 52
    emerging_alpha: float = 0.05
    emerging_patterns: tuple[Pattern, ...] = ALERTING_PATTERNS
    dedupe_days: int = 14
    expire_days: int = 14
    category_sets: tuple[tuple[str, ...], ...] = ((),)
    seed: int | None = None
    """None: derived from the analysed day, so a rerun the same day draws the same replicas."""
    n_jobs: int | None = None
    budget_per_month: float = ALERT_BUDGET_PER_MONTH
    over_budget: bool = False

    def budget_problems(self) -> list[str]:
        """Why these settings would exceed the false-alert budget (empty: they fit)."""
        return budget_problems(
            self.methods,
            min_recurrence_days=self.scan_min_recurrence_days,
            budget_per_month=self.budget_per_month,
            ebp_min_recurrence_days=self.ebp_min_recurrence_days,
        )


def settings_from_config(config: Any) -> HotspotSettings:
    """The app's settings: `HOTSPOT_SETTINGS` if given, else the defaults with the methods of
    `HOTSPOT_METHODS` and `HOTSPOT_OVER_BUDGET` (FIELDAPP_HOTSPOT_METHODS, …_OVER_BUDGET)."""
    given = config.get("HOTSPOT_SETTINGS")
    if isinstance(given, HotspotSettings):
        return given
    return HotspotSettings(
        methods=tuple(config.get("HOTSPOT_METHODS") or ALERT_METHODS),
        over_budget=bool(config.get("HOTSPOT_OVER_BUDGET", False)),
    )


@dataclass
class RecomputeResult:
    """What a recomputation did."""

    today: date
    last_day: date
    detections: dict[str, int] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.expired)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["today"] = self.today.isoformat()
        out["last_day"] = self.last_day.isoformat()
        return out


# --------------------------------------------------------------------------------------------
# The cells, their weights and neighbourhoods: cached per boundary version
# --------------------------------------------------------------------------------------------


@dataclass
class CellGeography:
    """The cells in id order, with what the statistics need. Built once per boundary version
    (building the queen weights of 4,586 unsimplified polygons takes about a second)."""

    key: tuple[int, int, int]
    ids: npt.NDArray[np.int64]
    codes: list[str]
    township_ids: npt.NDArray[np.int64]
    county_ids: npt.NDArray[np.int64]
    centroids: npt.NDArray[np.float64]
    queen: sp.csr_matrix
    _neighbourhoods: dict[int, Neighbourhoods] = field(default_factory=dict)

    def neighbourhoods(self, k: int) -> Neighbourhoods:
        """The k nearest cells of each cell by centroid (lon scaled by cos latitude)."""
        k = max(1, min(k, len(self.ids)))
        if k not in self._neighbourhoods:
            self._neighbourhoods[k] = nearest_cells(self.centroids, k, geographic=True)
        return self._neighbourhoods[k]


_lock = threading.Lock()
_geography: CellGeography | None = None


def cell_geography(session: Session) -> CellGeography:
    """The cached `CellGeography`, rebuilt when an import changed the boundaries."""
    global _geography
    # The version alone could repeat across databases (tests, a restored backup), so the
    # key also holds the count and largest id of the cells; both are index-only lookups.
    row = session.execute(text("SELECT count(*), coalesce(max(id), 0) FROM cells")).one()
    key = (queries.boundary_version(session), int(row[0]), int(row[1]))
    with _lock:
        if _geography is not None and _geography.key == key:
            return _geography
    # Raw SQL: WKB straight into shapely's vectorised reader; the UNSIMPLIFIED polygons,
    # since simplifying cells one by one opens slivers and drops queen links.
    rows = session.execute(
        text("SELECT id, code, township_id, county_id, ST_AsBinary(geom) FROM cells ORDER BY id")
    ).all()
    polygons = shapely.from_wkb([bytes(r[4]) for r in rows]) if rows else np.array([])
    centroids = shapely.get_coordinates(shapely.centroid(polygons)) if rows else np.zeros((0, 2))
    built = CellGeography(
        key=key,
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        codes=[r[1] for r in rows],
        township_ids=np.array([r[2] for r in rows], dtype=np.int64),
        county_ids=np.array([r[3] for r in rows], dtype=np.int64),
        centroids=np.asarray(centroids, dtype=np.float64),
        queen=queen_weights(polygons),
    )
    with _lock:
        _geography = built
    return built


def forget_geography() -> None:
    """Drop the cached geography (the next call rebuilds it)."""
    global _geography
    with _lock:
        _geography = None


# --------------------------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------------------------


def daily_counts(
    session: Session,
    end_date: date,
    days: int,
    categories: Sequence[str] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Reports per cell and China-time day for the `days` days ending with `end_date`
    (included): (cell ids in id order — every cell, zeros included — and a cells × days
    int64 matrix, the last column `end_date`). Merged reports are left out; `categories`
    (None or empty: all) narrows to those categories."""
    if days < 1:
        raise ValueError("days must be >= 1")
    start = end_date - timedelta(days=days - 1)
    cats = list(categories or [])
    # Raw SQL: the day bucket is computed in China time inside PostgreSQL, and the range on
    # reported_at is on the instants of local midnight so that the (cell_id, reported_at)
    # index can serve it; one grouped pass instead of a row per report.
    rows = session.execute(
        text(
            """
            SELECT cell_id,
                   ((reported_at AT TIME ZONE :tz)::date - CAST(:start AS date)) AS d,
                   count(*) AS n
            FROM reports
            WHERE reported_at >= :t0 AND reported_at < :t1
              AND status <> 'merged'
              AND (cardinality(CAST(:cats AS text[])) = 0
                   OR category = ANY(CAST(:cats AS text[])))
            GROUP BY 1, 2
            """
        ),
        {
            "tz": CHINA_TZ.key,
            "start": start,
            "t0": day_start(start),
            "t1": day_start(end_date + timedelta(days=1)),
            "cats": cats,
        },
    ).all()
    ids = np.array(
        session.execute(text("SELECT id FROM cells ORDER BY id")).scalars().all(), dtype=np.int64
    )
    matrix = np.zeros((ids.size, days), dtype=np.int64)
    if rows:
        cell = np.array([r[0] for r in rows], dtype=np.int64)
        day = np.array([r[1] for r in rows], dtype=np.int64)
        n = np.array([r[2] for r in rows], dtype=np.int64)
        row = np.searchsorted(ids, cell)
        matrix[row, day] = n
    return ids, matrix


# --------------------------------------------------------------------------------------------
# Recomputation
# --------------------------------------------------------------------------------------------


def china_today(now: datetime | None = None) -> date:
    """Today's date in China time."""
    return (now or datetime.now(UTC)).astimezone(CHINA_TZ).date()


def detect(
    counts: npt.NDArray[np.int64],
    geography: CellGeography,
    settings: HotspotSettings,
    seed: int,
) -> list[Detection]:
    """Run the enabled methods on a cells × days matrix whose last column is the last
    complete day. Day indices of the detections refer to that matrix."""
    n, total_days = counts.shape
    found: list[Detection] = []
    if n < 2 or not counts.any():
        return found
    if "scan" in settings.methods:
        days = min(settings.scan_history_days, total_days)
        offset = total_days - days
        window = counts[:, offset:]
        for d in scan_detections(
            window,
            geography.neighbourhoods(settings.scan_max_cells),
            max_cells=settings.scan_max_cells,
            max_days=settings.scan_max_days,
            replicas=settings.scan_replicas,
            min_recurrence_days=settings.scan_min_recurrence_days,
            p_value=settings.scan_p_value,
            seed=seed,
            n_jobs=settings.n_jobs,
            tests_per_day=max(1, len(settings.category_sets)),
        ):
            found.append(_shift(d, offset))
    if "ebp" in settings.methods:
        found.extend(
            ebp_detections(
                counts,
                geography.neighbourhoods(settings.ebp_max_cells),
                history_days=settings.ebp_history_days,
                max_cells=settings.ebp_max_cells,
                max_days=settings.ebp_max_days,
                replicas=settings.ebp_replicas,
                min_recurrence_days=settings.ebp_min_recurrence_days,
                tests_per_day=max(1, len(settings.category_sets)),
                seed=seed,
            )
        )
    if "gi_star" in settings.methods:
        days = min(settings.gi_days, total_days)
        found.extend(
            gi_detections(
                counts[:, total_days - days :].sum(axis=1),
                geography.queen,
                alpha=settings.gi_alpha,
                first_day=total_days - days,
                last_day=total_days - 1,
            )
        )
    if "emerging" in settings.methods:
        weeks = min(settings.emerging_weeks, total_days // 7)
        if weeks >= 1:
            recent = counts[:, total_days - weeks * 7 :]
            cube = recent.reshape(n, weeks, 7).sum(axis=2)
            found.extend(
                emerging_detections(
                    cube,
                    geography.queen,
                    alpha=settings.emerging_alpha,
                    patterns=settings.emerging_patterns,
                    last_day=total_days - 1,
                )
            )
    return found


def _shift(d: Detection, offset: int) -> Detection:
    return replace(d, first_day=d.first_day + offset, last_day=d.last_day + offset)


def recompute(
    session: Session,
    *,
    today: date,
    settings: HotspotSettings | None = None,
    now: datetime | None = None,
    actor_id: int | None = None,
) -> RecomputeResult:
    """Recompute every method on the complete days up to yesterday (relative to `today`,
    China time), update or create alerts, expire stale ones. Idempotent for a given day: a
    second run finds the same detections and changes nothing. Serialised across processes by
    a transaction-level advisory lock, so the beat run and a manual run cannot interleave.
    The caller commits."""
    settings = settings or HotspotSettings()
    unknown = set(settings.methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods: {sorted(unknown)}")
    problems = settings.budget_problems()
    if problems and not settings.over_budget:
        raise ValueError(
            "HOTSPOT_SETTINGS exceed the false-alert budget: "
            + "; ".join(problems)
            + " (or set over_budget=True)"
        )
    started = time.perf_counter()
    if now is None:
        now = datetime.now(UTC)
        if china_today(now) != today:  # a back-fill or a test: stamp the analysed morning
            now = datetime.combine(today, dtime(6), tzinfo=CHINA_TZ)
    last_day = today - timedelta(days=1)
    result = RecomputeResult(today=today, last_day=last_day)
    # Raw SQL: PostgreSQL advisory locks have no ORM form; released at commit/rollback.
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    geography = cell_geography(session)
    if geography.ids.size < 2:
        return result
    history = max(
        settings.scan_history_days if "scan" in settings.methods else 1,
        settings.ebp_history_days if "ebp" in settings.methods else 1,
        settings.gi_days if "gi_star" in settings.methods else 1,
        settings.emerging_weeks * 7 if "emerging" in settings.methods else 1,
    )
    first_day = last_day - timedelta(days=history - 1)
    seed = settings.seed if settings.seed is not None else int(last_day.strftime("%Y%m%d"))
    for categories in settings.category_sets:
        ids, counts = daily_counts(session, last_day, history, categories)
        if not np.array_equal(ids, geography.ids):  # cells changed under us: rebuild once
            forget_geography()
            geography = cell_geography(session)
        found = detect(counts, geography, settings, seed)
        for d in found:
            result.detections[d.method] = result.detections.get(d.method, 0) + 1
        _persist(
            session, found, geography, sorted(categories), first_day, today, now, settings, result
        )
    _expire(session, today, settings.expire_days, result)
    result.seconds = round(time.perf_counter() - started, 3)
    if result.changed:
        audit.record(
            session,
            actor_id=actor_id,
            action="hotspots.recompute",
            object_type="hotspot_alerts",
            object_id=today.isoformat(),
            details={
                "created": result.created,
                "updated": result.updated,
                "expired": result.expired,
            },
        )
        session.flush()
    return result


def _active_alerts(session: Session, categories: list[str]) -> list[HotspotAlert]:
    return list(
        session.execute(
            select(HotspotAlert)
            .where(HotspotAlert.status != "expired", HotspotAlert.categories == categories)
            .order_by(HotspotAlert.id)
            .with_for_update()
        ).scalars()
    )


def _as_active(alert: HotspotAlert) -> ActiveAlert:
    return ActiveAlert(
        id=alert.id,
        method=alert.method,
        cells=frozenset(alert.cell_ids),
        last_detected=alert.last_detected_at.astimezone(CHINA_TZ).date(),
    )


def _persist(
    session: Session,
    found: list[Detection],
    geography: CellGeography,
    categories: list[str],
    first_day: date,
    today: date,
    now: datetime,
    settings: HotspotSettings,
    result: RecomputeResult,
) -> None:
    alerts = _active_alerts(session, categories)
    by_id = {a.id: a for a in alerts}
    cell_ids = [[int(geography.ids[i]) for i in d.cells] for d in found]
    matches = match_detections(
        [(d.method, cells) for d, cells in zip(found, cell_ids, strict=True)],
        [_as_active(a) for a in alerts],
        today=today,
        within_days=settings.dedupe_days,
    )
    grouped: dict[int, list[Detection]] = {}
    candidates: list[tuple[Detection, list[int]]] = []
    for d, cells, alert_id in zip(found, cell_ids, matches, strict=True):
        if alert_id is None:
            candidates.append((d, cells))
        else:
            grouped.setdefault(alert_id, []).append(d)
    # One alert per hotspot across the budgeted methods too: the scan and the own-baseline
    # scan usually both find a real outbreak, and staff should get it once.
    horizon = today - timedelta(days=settings.dedupe_days)
    live = [
        _as_active(a) for a in alerts if a.last_detected_at.astimezone(CHINA_TZ).date() >= horizon
    ]
    new: list[Detection] = []
    kept_alive: set[int] = set()
    for (d, _cells), verdict in zip(
        candidates,
        same_hotspot([(d.method, frozenset(c)) for d, c in candidates], live),
        strict=True,
    ):
        if verdict is None:
            new.append(d)
        elif verdict > 0:
            kept_alive.add(verdict)
    for alert_id in sorted(kept_alive - set(grouped)):
        alert = by_id[alert_id]
        if alert.last_detected_at.astimezone(CHINA_TZ).date() < today:
            alert.last_detected_at = now
            result.updated.append(alert.id)

    for alert_id, parts in sorted(grouped.items()):
        d = merge_detections(parts)
        values = _values(d, geography, first_day)
        alert = by_id[alert_id]
        changes = {
            k: v
            for k, v in values.items()
            if k not in ("period_from", "centre_cell_id", "township_id", "county_id")
            and getattr(alert, k) != v
        }
        if alert.last_detected_at.astimezone(CHINA_TZ).date() < today:
            changes["last_detected_at"] = now
        if changes:
            for k, v in changes.items():
                setattr(alert, k, v)
            result.updated.append(alert.id)

    created: list[HotspotAlert] = []
    for d in new:
        values = _values(d, geography, first_day)
        centre_code = geography.codes[d.centre]
        alert = HotspotAlert(
            **values,
            categories=categories,
            status="new",
            first_detected_at=now,
            last_detected_at=now,
            fingerprint=_fingerprint(d.method, categories, centre_code, today),
        )
        session.add(alert)
        created.append(alert)
    if created:
        session.flush()
        result.created.extend(a.id for a in created)
        _notify_new(session, created)
    session.flush()


SAME_HOTSPOT_METHODS = ("scan", "ebp")
"""The alert methods that look for the same thing (more reports here lately than expected):
a detection of one that shares a cell with a live alert of the other is the same hotspot."""


def same_hotspot(
    candidates: Sequence[tuple[str, frozenset[int]]], live: Sequence[ActiveAlert]
) -> list[int | None]:
    """For each new detection (method, cell ids) that re-detects no alert of its own method:
    None to create an alert; the id (> 0) of a live alert of the other method of
    `SAME_HOTSPOT_METHODS` sharing the most cells with it, which it keeps alive instead;
    or 0 when an earlier candidate of this run of the other method already covers it (the
    scan's detections come first, so the scan's alert is the one created)."""
    out: list[int | None] = []
    claimed: list[tuple[str, frozenset[int]]] = []
    for method, cells in candidates:
        if method not in SAME_HOTSPOT_METHODS:
            out.append(None)
            continue
        others = [
            a
            for a in live
            if a.method in SAME_HOTSPOT_METHODS and a.method != method and cells & a.cells
        ]
        if others:
            best = min(others, key=lambda a: (-len(cells & a.cells), a.id))
            out.append(best.id)
        elif any(m != method and cells & c for m, c in claimed):
            out.append(0)
        else:
            claimed.append((method, cells))
            out.append(None)
    return out


def _values(d: Detection, geography: CellGeography, first_day: date) -> dict[str, Any]:
    """Column values of a detection; numbers rounded so that a rerun compares equal."""
    return {
        "method": d.method,
        "cell_ids": [int(geography.ids[i]) for i in d.cells],
        "centre_cell_id": int(geography.ids[d.centre]),
        "township_id": int(geography.township_ids[d.centre]),
        "county_id": int(geography.county_ids[d.centre]),
        "statistic": round(float(d.statistic), 6),
        "p_value": _round(d.p_value),
        "pattern": d.pattern,
        "period_from": first_day + timedelta(days=d.first_day),
        "period_to": first_day + timedelta(days=d.last_day),
        "recurrence_interval_days": _round(d.recurrence_interval_days),
        "observed": _round(d.observed),
        "expected": _round(d.expected),
    }


def _round(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _fingerprint(method: str, categories: list[str], centre_code: str, day: date) -> str:
    """The hotspot's identity at first detection; unique in the table."""
    raw = f"{method}|{','.join(categories)}|{centre_code}|{day.isoformat()}"
    return f"{method}:{hashlib.sha256(raw.encode()).hexdigest()[:24]}"


def _expire(session: Session, today: date, after_days: int, result: RecomputeResult) -> None:
    alerts = list(
        session.execute(
            select(HotspotAlert).where(HotspotAlert.status != "expired").with_for_update()
        ).scalars()
    )
    stale = set(stale_alerts([_as_active(a) for a in alerts], today=today, after_days=after_days))
    for alert in alerts:
        if alert.id in stale:
            alert.status = "expired"
            result.expired.append(alert.id)
    session.flush()


def _notify_new(session: Session, alerts: list[HotspotAlert]) -> None:
    """City staff, and the county staff of the alert's county, hear of a new hotspot."""
    names = _area_names(session, {a.township_id for a in alerts})
    city = list(session.execute(select(User.id).where(User.role == "city", User.active)).scalars())
    for alert in alerts:
        county = list(
            session.execute(
                select(User.id).where(
                    User.role == "county", User.area_id == alert.county_id, User.active
                )
            ).scalars()
        )
        label = METHOD_LABELS_ZH.get(alert.method, alert.method)
        place = names.get(alert.township_id, "")
        text_ = f"新热点预警（{label}）：{place} {len(alert.cell_ids)} 个网格"
        notifications.notify(session, city + county, "hotspot.new", str(alert.id), text_)


METHOD_LABELS_ZH = {
    "scan": "时空扫描",
    "gi_star": "热点分析",
    "emerging": "新兴热点",
    "ebp": "本地异常增多",
}


def _area_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Area.id, Area.name).where(Area.id.in_(ids))).all())


# --------------------------------------------------------------------------------------------
# Reading, acknowledging, supervising
# --------------------------------------------------------------------------------------------


def _require_reader(user: User) -> None:
    if user.role not in ("city", "admin", "county"):
        raise Forbidden(_("Hotspot alerts are for city and county staff."))


def _visible(stmt: Any, user: User) -> Any:
    """City staff and admins see every alert; county staff the alerts centred in their
    county (the centre cell's county at first detection)."""
    if user.role == "county":
        return stmt.where(HotspotAlert.county_id == user.area_id)
    return stmt


def get_alert(session: Session, user: User, alert_id: int, *, lock: bool = False) -> HotspotAlert:
    """An alert the user may see; NotFound otherwise (its existence is not revealed)."""
    _require_reader(user)
    stmt = _visible(select(HotspotAlert).where(HotspotAlert.id == alert_id), user)
    if lock:
        stmt = stmt.with_for_update()
    alert = session.execute(stmt).scalar_one_or_none()
    if alert is None:
        raise NotFound(_("No such hotspot alert."))
    return alert


def list_alerts(session: Session, user: User, status: str | None = None) -> list[dict[str, Any]]:
    """The alerts `user` may see, strongest first within each method. `status`: None for the
    active ones (new, acknowledged, supervised), one status, or "all". City staff see all,
    county staff their county's; other roles are refused."""
    _require_reader(user)
    stmt = select(HotspotAlert)
    if status is None:
        stmt = stmt.where(HotspotAlert.status != "expired")
    elif status in STATUSES:
        stmt = stmt.where(HotspotAlert.status == status)
    elif status != "all":
        raise InvalidInput(
            _("Check the parameters."),
            {"status": _("One of: %(values)s.", values=", ".join((*STATUSES, "all")))},
        )
    stmt = _visible(stmt, user).order_by(
        HotspotAlert.last_detected_at.desc(), HotspotAlert.statistic.desc(), HotspotAlert.id
    )
    return alerts_json(session, list(session.execute(stmt).scalars()))


def alerts_json(session: Session, alerts: list[HotspotAlert]) -> list[dict[str, Any]]:
    """The JSON of `GET /api/v1/hotspots` for these alerts (order kept)."""
    if not alerts:
        return []
    ids = [a.id for a in alerts]
    # Raw SQL: one pass for every alert's cell codes and the union of its UNSIMPLIFIED cell
    # polygons (they tile without gaps, so the union is one clean outline; simplifying the
    # cells first would leave slivers). 6 decimals ≈ 0.1 m.
    shapes = {
        r[0]: (list(r[1]), r[2])
        for r in session.execute(
            text(
                """
                SELECT a.id, array_agg(c.code ORDER BY c.code),
                       ST_AsGeoJSON(ST_Union(c.geom), 6)
                FROM hotspot_alerts a JOIN cells c ON c.id = ANY(a.cell_ids)
                WHERE a.id = ANY(:ids)
                GROUP BY a.id
                """
            ),
            {"ids": ids},
        )
    }
    centres = {a.centre_cell_id for a in alerts}
    # The label: the centre cell itself for a one-cell hotspot, else the centre's township.
    places = {
        r[0]: r[1:]
        for r in session.execute(
            select(Cell.id, Cell.code, Cell.name, Area.code, Area.name)
            .join(Area, Area.id == Cell.township_id)
            .where(Cell.id.in_(centres))
        )
    }
    out = []
    for a in alerts:
        codes, geometry = shapes.get(a.id, ([], None))
        place = places.get(a.centre_cell_id)
        area = None
        township = None
        if place is not None:
            township = {"code": place[2], "name": place[3]}
            if len(a.cell_ids) == 1:
                area = {"code": place[0], "name": place[1], "level": "cell"}
            else:
                area = {"code": place[2], "name": place[3], "level": "township"}
        out.append(
            {
                "id": a.id,
                "area": area,
                "method": a.method,
                "statistic": a.statistic,
                "p_value": a.p_value,
                "pattern": a.pattern,
                "period": {"from": a.period_from.isoformat(), "to": a.period_to.isoformat()},
                "categories": list(a.categories or []),
                "recurrence_interval_days": a.recurrence_interval_days,
                "observed": a.observed,
                "expected": a.expected,
                "status": a.status,
                "first_detected_at": a.first_detected_at.isoformat(),
                "last_detected_at": a.last_detected_at.isoformat(),
                "cells": codes,
                "geometry": json.loads(geometry) if geometry else None,
                "township": township,
                "relative_risk": relative_risk(a.observed, a.expected),
                "display": alert_display(a, township["name"] if township else ""),
            }
        )
    return out


def relative_risk(observed: float | None, expected: float | None) -> float | None:
    """Observed / expected, one decimal (None when either is unknown or expected is 0)."""
    if observed is None or expected is None or not expected > 0:
        return None
    return round(float(observed) / float(expected), 1)


def unusual_words(recurrence_days: float | None, replicas: int | None = None) -> str | None:
    """How unusual an alert is, in words a cadre reads ("超过百年一遇"), never claiming more
    than the replicas support: the interval is capped first (`supported_recurrence_days`)."""
    from maps.early_warning import recurrence_words, supported_recurrence_days

    if recurrence_days is None or not recurrence_days > 0:
        return None
    cap = supported_recurrence_days(replicas or HotspotSettings().scan_replicas)
    kind, n = recurrence_words(min(float(recurrence_days), cap))
    if kind == "century":
        return _("Rarer than once in a hundred years")
    if kind == "decade":
        return _("Rarer than once in ten years")
    if kind == "year":
        return _("Rarer than once a year")
    return _("About once every %(n)s days", n=n)


def alert_display(alert: HotspotAlert, township_name: str) -> dict[str, str | None]:
    """The alert's figures as the popup and the alert list show them, in the request's
    language: where, how unusual, the relative risk."""
    rr = relative_risk(alert.observed, alert.expected)
    n = len(alert.cell_ids)
    return {
        "cells_text": _("%(n)s grid cells in %(place)s", n=n, place=township_name)
        if n != 1
        else _("1 grid cell in %(place)s", place=township_name),
        "relative_risk": _("%(n)s times the expected", n=f"{rr:.1f}") if rr is not None else None,
        "unusual": unusual_words(alert.recurrence_interval_days),
        "pattern": pattern_labels().get(alert.pattern, alert.pattern) if alert.pattern else None,
    }


def pattern_labels() -> dict[str, str]:
    """The emerging hot spot patterns (`maps.hotspots.Pattern.label`) in the request's
    language; literal msgids so that extraction finds them."""
    return {
        "new hot spot": _("new hot spot"),
        "consecutive hot spot": _("consecutive hot spot"),
        "intensifying hot spot": _("intensifying hot spot"),
        "persistent hot spot": _("persistent hot spot"),
        "diminishing hot spot": _("diminishing hot spot"),
        "sporadic hot spot": _("sporadic hot spot"),
        "oscillating hot spot": _("oscillating hot spot"),
        "historical hot spot": _("historical hot spot"),
        "new cold spot": _("new cold spot"),
        "consecutive cold spot": _("consecutive cold spot"),
        "intensifying cold spot": _("intensifying cold spot"),
        "persistent cold spot": _("persistent cold spot"),
        "diminishing cold spot": _("diminishing cold spot"),
        "sporadic cold spot": _("sporadic cold spot"),
        "oscillating cold spot": _("oscillating cold spot"),
        "historical cold spot": _("historical cold spot"),
        "no pattern detected": _("no pattern detected"),
    }


def acknowledge(
    session: Session,
    user: User,
    alert_id: int,
    *,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """Mark a new alert as seen (已知悉). City staff, or county staff for their county's.
    Acknowledging an acknowledged alert changes nothing; a supervised or expired one is a
    conflict (it is past that step)."""
    alert = get_alert(session, user, alert_id, lock=True)
    if alert.status in ("supervised", "expired"):
        raise Conflict(_("This hotspot alert is already supervised or expired."))
    if alert.status == "new":
        alert.status = "acknowledged"
        alert.acknowledged_by = user.id
        alert.acknowledged_at = now or datetime.now(UTC)
        audit.record(
            session,
            actor_id=user.id,
            action="hotspot.acknowledge",
            object_type="hotspot_alert",
            object_id=alert.id,
            remote_addr=remote_addr,
        )
        session.flush()
    return alerts_json(session, [alert])[0]


@dataclass(frozen=True)
class SupervisionResult:
    alert: dict[str, Any]
    orders: int
    case_ids: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"alert": self.alert, "orders": self.orders, "cases": self.case_ids}


def cases_behind(session: Session, alert: HotspotAlert) -> list[Report]:
    """The open cases of the alert: reported in its cells during its period (China days,
    inclusive), of its categories, in an open workflow state."""
    stmt = (
        select(Report)
        .where(
            Report.cell_id.in_(alert.cell_ids),
            Report.status.in_([s.value for s in OPEN_STATES]),
            Report.reported_at >= day_start(alert.period_from),
            Report.reported_at < day_start(alert.period_to + timedelta(days=1)),
        )
        .order_by(Report.reported_at, Report.id)
    )
    if alert.categories:
        stmt = stmt.where(Report.category.in_(alert.categories))
    return list(session.execute(stmt.with_for_update()).scalars())


def supervise(
    session: Session,
    user: User,
    alert_id: int,
    due_at: datetime,
    note: str,
    *,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> SupervisionResult:
    """督办 a hotspot: a `SupervisionOrder` and a 'supervise' case event on every open case
    behind it, the cases' versions bumped (as a per-case supervision does), their owners
    notified once each, the alert marked supervised. City staff only."""
    now = now or datetime.now(UTC)
    if user.role != "city":
        raise Forbidden(_("Supervision orders (督办) are issued by city staff."))
    note = (note or "").strip()
    fields: dict[str, str] = {}
    if not note or len(note) > 2000:
        fields["reason"] = _("Required: at most 2,000 characters.")
    if due_at.tzinfo is None:
        due_at = due_at.replace(tzinfo=CHINA_TZ)
    if due_at <= now:
        fields["due_at"] = _("Must be in the future.")
    if fields:
        raise InvalidInput(_("Check the fields."), fields, code="invalid_action")
    alert = get_alert(session, user, alert_id, lock=True)
    if alert.status in ("supervised", "expired"):
        raise Conflict(_("This hotspot alert is already supervised or expired."))
    reports = cases_behind(session, alert)
    if not reports:
        raise Conflict(_("There are no open cases in this hotspot to supervise."))
    data = {"due_at": due_at.isoformat(), "hotspot_alert_id": alert.id}
    for r in reports:
        session.add(
            SupervisionOrder(
                report_id=r.id, issued_by=user.id, issued_at=now, due_at=due_at, note=note
            )
        )
        session.add(
            CaseEvent(
                report_id=r.id,
                actor_id=user.id,
                at=now,
                action="supervise",
                from_status=r.status,
                to_status=r.status,
                reason=note,
                data=data,
            )
        )
        audit.record(
            session,
            actor_id=user.id,
            action="case.supervise",
            object_type="report",
            object_id=r.id,
            remote_addr=remote_addr,
            details=data,
        )
    # The cases changed: anyone holding an older version must reload before acting.
    session.execute(
        update(Report)
        .where(Report.id.in_([r.id for r in reports]))
        .values(version=Report.version + 1)
        .execution_options(synchronize_session=False)
    )
    alert.status = "supervised"
    alert.supervised_by = user.id
    alert.supervised_at = now
    audit.record(
        session,
        actor_id=user.id,
        action="hotspot.supervise",
        object_type="hotspot_alert",
        object_id=alert.id,
        remote_addr=remote_addr,
        details={"due_at": due_at.isoformat(), "cases": len(reports)},
    )
    _notify_owners(session, alert, reports, due_at)
    session.flush()
    for r in reports:
        session.refresh(r)
    return SupervisionResult(
        alert=alerts_json(session, [alert])[0],
        orders=len(reports),
        case_ids=[str(r.id) for r in reports],
    )


def _notify_owners(
    session: Session, alert: HotspotAlert, reports: list[Report], due_at: datetime
) -> None:
    """One notification per owner (not per case): a coordinator with twenty cases in the
    hotspot gets one message that says twenty."""
    from fieldapp.services.cases import OWNER_ROLE_BY_LEVEL

    per_owner: dict[int, int] = {}
    owners_of: dict[tuple[str, int | None], list[int]] = {}
    for r in reports:
        key = (r.owner_level, None if r.owner_level == "city" else r.owner_area_id)
        if key not in owners_of:
            stmt = select(User.id).where(
                User.role == OWNER_ROLE_BY_LEVEL.get(r.owner_level, "coordinator"), User.active
            )
            if key[1] is not None:
                stmt = stmt.where(User.area_id == key[1])
            owners_of[key] = list(session.execute(stmt).scalars())
        for uid in owners_of[key]:
            per_owner[uid] = per_owner.get(uid, 0) + 1
    place = _area_names(session, {alert.township_id}).get(alert.township_id, "")
    due = due_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    for uid, n in sorted(per_owner.items()):
        notifications.notify(
            session,
            [uid],
            "hotspot.supervise",
            str(alert.id),
            f"热点督办：{place} {n} 件在办案件，请于 {due} 前办结",
        )


def enqueue_recompute(session: Session, user: User, *, remote_addr: str | None = None) -> int:
    """City staff ask for a recomputation now; the work goes through the outbox (it takes
    a minute on the whole city). Returns the outbox id."""
    from fieldapp.services import outbox

    if user.role not in ("city", "admin"):
        raise Forbidden(_("Only city staff can recompute the hotspots."))
    message = outbox.enqueue(session, RECOMPUTE_TASK, {"requested_by": user.id})
    audit.record(
        session,
        actor_id=user.id,
        action="hotspots.recompute_requested",
        object_type="outbox",
        object_id=message.id,
        remote_addr=remote_addr,
    )
    return message.id


# --------------------------------------------------------------------------------------------
# Map analyses: Gi* confidence classes and emerging hot spot patterns (not alerts)
# --------------------------------------------------------------------------------------------

ANALYSES = ("gi_star", "emerging")
_analysis_lock = threading.Lock()
_analysis_cache: dict[tuple[Any, ...], dict[str, Any]] = {}


def analysis_layer(
    session: Session,
    user: User,
    kind: str,
    *,
    today: date | None = None,
    settings: HotspotSettings | None = None,
) -> dict[str, Any]:
    """A map analysis as GeoJSON of the cells with a class, and the number of cells per class.

    - ``gi_star``: Gi* of each cell's count over the last `gi_days` complete days, as the
      confidence classes +3/+2/+1 (hot at 99/95/90 %), −1/−2/−3 (cold), 0 not significant
      (`maps.early_warning.gi_confidence_classes`; permutation p-values on sparse counts).
    - ``emerging``: the emerging hot spot pattern of each cell over `emerging_weeks` weeks
      (`maps.hotspots.Pattern` codes, ±1 … ±8).

    City staff see the whole city, county staff their county's cells; computed once per
    analysed day and boundary version."""
    _require_reader(user)
    if kind not in ANALYSES:
        raise NotFound(_("No such map analysis."))
    cached = _analysis(session, kind, today or china_today(), settings or HotspotSettings())
    shown: list[dict[str, Any]] = cached["features"]
    if user.role == "county":
        shown = [f for f in shown if f["properties"]["county_id"] == user.area_id]
    counts_by_class: dict[str, int] = {}
    for f in shown:
        k = str(f["properties"]["class"])
        counts_by_class[k] = counts_by_class.get(k, 0) + 1
    return {
        "type": "FeatureCollection",
        **{k: v for k, v in cached.items() if k != "features" and not k.startswith("_")},
        "classes": counts_by_class,
        "features": shown,
    }


def _analysis(
    session: Session, kind: str, today: date, settings: HotspotSettings
) -> dict[str, Any]:
    """The analysis of the complete days before `today` for the whole city, cached (one
    analysed day at a time)."""
    from fieldapp.services import geography as area_geography
    from maps.early_warning import gi_confidence_classes
    from maps.hotspots import emerging_hotspots

    last_day = today - timedelta(days=1)
    geo = cell_geography(session)
    key = (kind, last_day, geo.key, settings.gi_days, settings.emerging_weeks)
    with _analysis_lock:
        cached = _analysis_cache.get(key)
    if cached is None:
        seed = int(last_day.strftime("%Y%m%d"))
        kind_of_p = "normal"
        if kind == "gi_star":
            _ids, counts = daily_counts(session, last_day, settings.gi_days)
            classes, z, kind_of_p = gi_confidence_classes(
                counts.sum(axis=1), geo.queen, seed=seed, n_jobs=settings.n_jobs
            )
        else:
            weeks = settings.emerging_weeks
            _ids, counts = daily_counts(session, last_day, weeks * 7)
            cube = counts.reshape(counts.shape[0], weeks, 7).sum(axis=2)
            if cube.any() and cube.shape[0] >= 2:
                result = emerging_hotspots(cube, geo.queen, alpha=settings.emerging_alpha)
                classes = np.asarray(result.codes, dtype=np.int8)
                z = np.asarray(result.z[:, -1], dtype=np.float64)
            else:
                classes = np.zeros(counts.shape[0], dtype=np.int8)
                z = np.zeros(counts.shape[0])
        shapes = {
            f["id"]: f["geometry"] for f in area_geography.area_layer(session, "cell")["features"]
        }
        # What the table of the analysis shows beside each class: the counts Gi* compares,
        # i.e. the cell with its queen neighbours against as many average cells of the city.
        totals = counts.sum(axis=1).astype(np.float64)
        stats = neighbourhood_counts(totals, geo.queen)
        features: list[dict[str, Any]] = []
        for i in np.flatnonzero(classes):
            code = geo.codes[int(i)]
            features.append(
                {
                    "type": "Feature",
                    "id": code,
                    "properties": {
                        "code": code,
                        "class": int(classes[i]),
                        "z": round(float(z[i]), 2),
                        "county_id": int(geo.county_ids[i]),
                    },
                    "geometry": shapes.get(code),
                }
            )
        cached = {
            "kind": kind,
            "period": {
                "from": (
                    last_day
                    - timedelta(
                        days=(
                            settings.gi_days if kind == "gi_star" else settings.emerging_weeks * 7
                        )
                        - 1
                    )
                ).isoformat(),
                "to": last_day.isoformat(),
            },
            "p_values": kind_of_p,
            "cells": int(classes.size),
            "features": features,
            "_stats": {
                geo.codes[int(i)]: (
                    int(totals[i]),
                    int(stats[0][i]),
                    float(stats[1][i]),
                    int(geo.township_ids[i]),
                )
                for i in np.flatnonzero(classes)
            },
        }
        with _analysis_lock:
            _analysis_cache.clear()  # one analysed day at a time: the old ones are stale
            _analysis_cache[key] = cached
    return cached


# --------------------------------------------------------------------------------------------
# The map analyses as a table (/city/hotspots/analysis)
# --------------------------------------------------------------------------------------------

TABLE_SORTS = ("strength", "township", "class", "observed")
"""How the table may be ordered: the strongest first (|z|, the default), by township, by
class (hot 99 % first, then down to cold 99 %), by the neighbourhood's count."""


def neighbourhood_counts(
    totals: npt.NDArray[np.float64], queen: sp.csr_matrix
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """What Gi* compares for each cell: the reports of the cell and its queen neighbours
    (observed), and what as many average cells of the city would have (expected: the city
    mean per cell × the neighbourhood's size). Binary weights with the cell itself, as Gi*."""
    n = totals.size
    if n == 0:
        return np.zeros(0), np.zeros(0)
    observed = totals + np.asarray(queen @ totals).ravel()
    size = 1.0 + np.diff(queen.indptr).astype(np.float64)
    return observed, size * float(totals.mean())


def significance_words(kind: str, value: int, z: float) -> str:
    """How sure the analysis is, in words a cadre reads, never as a bare p-value.

    Gi*: the confidence class itself (its cut-offs are FDR-adjusted, so the words follow the
    class, not z). Emerging hot spots: the pattern comes from the whole series; the words say
    how unusual the last week is (two-sided normal p of its z)."""
    if kind == "gi_star":
        level = abs(value)
    else:
        a = abs(z)
        level = 3 if a >= 2.576 else 2 if a >= 1.960 else 1 if a >= 1.645 else 0
    if level == 3:
        return _("Chance alone: less than 1 in 100")
    if level == 2:
        return _("Chance alone: less than 1 in 20")
    if level == 1:
        return _("Chance alone: less than 1 in 10")
    return _("Could well be chance")


def gi_class_labels() -> dict[int, str]:
    """The Gi* confidence classes in the request's language (as the map's legend)."""
    return {
        3: _("Hot spot, %(level)s confidence", level="99%"),
        2: _("Hot spot, %(level)s confidence", level="95%"),
        1: _("Hot spot, %(level)s confidence", level="90%"),
        0: _("Not significant"),
        -1: _("Cold spot, %(level)s confidence", level="90%"),
        -2: _("Cold spot, %(level)s confidence", level="95%"),
        -3: _("Cold spot, %(level)s confidence", level="99%"),
    }


def sort_rows(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """The table's rows in the chosen order (`TABLE_SORTS`); ties by cell code, so the order
    is stable from one visit to the next."""
    if sort == "township":
        return sorted(rows, key=lambda r: (r["township"], -abs(r["z"]), r["code"]))
    if sort == "class":
        return sorted(rows, key=lambda r: (-r["class"], -abs(r["z"]), r["code"]))
    if sort == "observed":
        return sorted(rows, key=lambda r: (-r["observed"], r["code"]))
    return sorted(rows, key=lambda r: (-abs(r["z"]), r["code"]))


def analysis_table(
    session: Session,
    user: User,
    kind: str,
    *,
    today: date | None = None,
    settings: HotspotSettings | None = None,
) -> dict[str, Any]:
    """The map analysis `kind` as table rows, one per classed cell the user may see: the
    cell and its township, the class (Gi*) or pattern (emerging) in the request's language,
    the cell's reports, the neighbourhood's observed vs expected reports, z and how unusual
    in words. Same analysis, cache and scope as `analysis_layer` (the map's layer)."""
    layer = analysis_layer(session, user, kind, today=today, settings=settings)
    cached = _analysis(session, kind, today or china_today(), settings or HotspotSettings())
    stats: dict[str, tuple[int, int, float, int]] = cached["_stats"]
    codes = [f["properties"]["code"] for f in layer["features"]]
    # Raw SQL: the names of only the classed cells and their townships in one indexed join.
    names = {
        r[0]: (r[1], r[2], r[3])
        for r in session.execute(
            text(
                """
                SELECT c.code, c.name, t.code, t.name
                FROM cells c JOIN areas t ON t.id = c.township_id
                WHERE c.code = ANY(:codes)
                """
            ),
            {"codes": codes},
        )
    }
    patterns = _pattern_names_by_code()
    gi_labels = gi_class_labels()
    rows: list[dict[str, Any]] = []
    for f in layer["features"]:
        p = f["properties"]
        code = p["code"]
        cell_name, township_code, township_name = names.get(code, (code, "", ""))
        own, observed, expected, _township_id = stats.get(code, (0, 0, 0.0, 0))
        value = int(p["class"])
        rows.append(
            {
                "code": code,
                "name": cell_name,
                "township_code": township_code,
                "township": township_name,
                "class": value,
                "label": gi_labels.get(value, str(value))
                if kind == "gi_star"
                else patterns.get(value, str(value)),
                "hot": value > 0,
                "own": own,
                "observed": observed,
                "expected": expected,
                "z": float(p["z"]),
                "words": significance_words(kind, value, float(p["z"])),
            }
        )
    return {
        "kind": kind,
        "period": layer["period"],
        "p_values": layer["p_values"],
        "classes": layer["classes"],
        "rows": rows,
    }


def _pattern_names_by_code() -> dict[int, str]:
    """Emerging pattern code → its name in the request's language."""
    from maps.hotspots import Pattern

    labels = pattern_labels()
    return {int(p): labels.get(p.label, p.label) for p in Pattern if int(p) != 0}


def cell_focus(session: Session, user: User, code: str) -> dict[str, Any] | None:
    """Where the map opens when a table row is followed (/city/map?focus=<cell code>): the
    cell's outline and box, or None when there is no such cell or it lies outside the user's
    county (county staff), so the map then opens as usual."""
    if user.role not in ("city", "admin", "county") or not code or len(code) > 32:
        return None
    # Raw SQL: the outline and its box in one indexed lookup, as GeoJSON straight from PostGIS.
    row = session.execute(
        text(
            """
            SELECT county_id, ST_AsGeoJSON(geom, 6), ST_XMin(geom), ST_YMin(geom),
                   ST_XMax(geom), ST_YMax(geom)
            FROM cells WHERE code = :code
            """
        ),
        {"code": code},
    ).one_or_none()
    if row is None or (user.role == "county" and row[0] != user.area_id):
        return None
    return {"code": code, "geometry": json.loads(row[1]), "bbox": [float(v) for v in row[2:6]]}
