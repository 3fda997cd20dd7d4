"""Report intake and reading: the officers' side of the platform.

Intake is idempotent on the phone-generated id: the same id with the same body answers the
stored report; with a different body, a conflict. Everything a report causes later goes
through the outbox in the same transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp import crypto
from fieldapp.contract.reports import PartyInput, ReportInput, ReportListQuery
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.i18n import language
from fieldapp.models import Area, Category, Cell, Photo, Report, ReportParty, User
from fieldapp.privacy import mask_id_number, mask_name, mask_phone
from fieldapp.services import geography, party_data, scope, settings
from fieldapp.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OutsideCity,
    TryAgain,
)
from fieldapp.stats import day_start
from grid import queries
from grid.crs import to_wgs84
from grid.direct import DirectStatement, fetch_one

# A report with at least this many people is a potential group incident (群体性), DESIGN §1.
GROUP_INCIDENT_THRESHOLD = 5
PROCESS_REPORT_TASK = "workers.tasks.process_report"
# The policy of a caller that names none (the app always passes its DEADLINE_POLICY).
_DEFAULT_POLICY = DeadlinePolicy()


# Intake's write, prepared once (psycopg prepares it server-side after a few uses) and run
# directly on psycopg (grid.direct). The cell was found in this process's snapshot of the
# boundaries (geography.cell_snapshot), so `placed` first checks, in this statement's own
# snapshot, that the boundaries are still that version: if not, nothing is written and
# `placed` is empty. It also works out whether the cell is one of the officer's and, only when
# it is not (the CASE evaluates the subquery lazily), the metres to the nearest of them on the
# spheroid (NULL when the officer has none). Every CTE runs whether or not the final SELECT
# reads it; the three dependent inserts select FROM new_report, so on an id conflict nothing
# at all is written and the message id is NULL.
_INTAKE_SQL = DirectStatement(
    """
    WITH placed AS (
        SELECT own.inside, CASE WHEN own.inside THEN CAST(0 AS float8) ELSE (
            SELECT min(ST_Distance(
                geography(mine.geom), geography(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))))
            FROM officer_cells oc JOIN cells mine ON mine.id = oc.cell_id
            WHERE oc.user_id = :officer_id
        ) END AS distance
        FROM (
            SELECT EXISTS (
                SELECT 1 FROM officer_cells WHERE user_id = :officer_id AND cell_id = :cell_id
            ) AS inside
        ) AS own
        WHERE (SELECT coalesce(max(id), 0) FROM boundary_versions)
            = CAST(:boundary_version AS integer)
    ), new_report AS (
        INSERT INTO reports (
        id, officer_id, cell_id, village_id, township_id, county_id,
        input_lon, input_lat, input_crs, accuracy_m, outside_own_cells, distance_to_own_cells_m,
        occurred_at, reported_at, category, severity, people_involved, potential_group_incident,
        title, description, address, status, version, body_hash,
        owner_level, owner_area_id, step, step_started_at, due_at, deadline_policy_version,
        geom)
        SELECT
        CAST(:id AS uuid), :officer_id, :cell_id, :village_id, :township_id, :county_id,
        :input_lon, :input_lat, :input_crs, :accuracy_m, NOT placed.inside, placed.distance,
        :occurred_at, :reported_at, :category, :severity, :people_involved,
        :potential_group_incident,
        :title, :description, :address, :status, :version, :body_hash,
        :owner_level, :owner_area_id, :step, :step_started_at, :due_at,
        CAST(:deadline_policy_version AS integer),
        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
        FROM placed
        ON CONFLICT (id) DO NOTHING
        RETURNING id, case_number
    ), new_parties AS (
        INSERT INTO report_parties (report_id, position, name, id_number, phone, role,
            id_number_hmac, phone_hmac)
        SELECT new_report.id, p.position, p.name, p.id_number, p.phone, p.role,
            p.id_number_hmac, p.phone_hmac
        FROM new_report, jsonb_to_recordset(CAST(:parties AS jsonb)) AS p(
            position smallint, name text, id_number text, phone text, role text,
            id_number_hmac text, phone_hmac text)
    ), new_message AS (
        INSERT INTO outbox (task, payload, attempts)
        SELECT :task, CAST(:payload AS jsonb), 0 FROM new_report
        RETURNING id
    ), new_audit AS (
        INSERT INTO audit_log (actor_id, action, object_type, object_id, remote_addr, details)
        SELECT :officer_id, 'report.create', 'report', new_report.id::text, :remote_addr,
            CAST(:details AS jsonb)
        FROM new_report
    )
    SELECT (SELECT id FROM new_message), placed.inside, placed.distance,
        (SELECT case_number FROM new_report)
    FROM (SELECT 1) AS answer LEFT JOIN placed ON true
    """
)
# Boundaries re-imported this many times while one report was being written: give up and let
# the phone send it again (it does so by itself).
_MAX_PLACING_ATTEMPTS = 3


@dataclass(frozen=True)
class Intake:
    report: dict[str, Any]
    created: bool
    outbox_ids: list[int]
    """Committed with the report: to hand to the broker after the commit."""


def active_categories(session: Session) -> set[str]:
    return set(_categories(session)[1])


def list_categories(session: Session, language: str) -> list[dict[str, str]]:
    rows = session.execute(
        select(Category).where(Category.active.is_(True)).order_by(Category.sort_order)
    ).scalars()
    return [{"code": c.code, "name": c.name_zh if language == "zh" else c.name_en} for c in rows]


def file_report(
    session: Session,
    officer: User,
    data: ReportInput,
    *,
    body_hash: str,
    now: datetime,
    remote_addr: str | None = None,
    group_threshold: int = GROUP_INCIDENT_THRESHOLD,
    policy: DeadlinePolicy | None = None,
) -> Intake:
    """Locate and store a report (already valid as `ReportInput`; `body_hash` is its digest,
    `fieldapp.contract.reports.raw_body_hash`) in the caller's transaction. What needs the
    database is checked here: the caller's role, the category, the place."""
    if not scope.may_file_reports(officer):
        raise Forbidden(_("Only grid officers file reports."))
    if data.category not in active_categories(session):
        raise InvalidInput(
            _("Some fields need correcting."),
            {"category": _("Unknown category; choose one from /api/v1/categories.")},
            code="invalid_report",
        )
    # What an administrator saved (fieldapp.services.settings), else the configured values.
    current = settings.current(session, policy=policy or _DEFAULT_POLICY, threshold=group_threshold)

    lon, lat = to_wgs84(data.lon, data.lat, data.crs)
    # Located in this process's snapshot of the cells, which the write checks is current.
    cells = geography.cell_snapshot(session, check_version=False)
    for _attempt in range(_MAX_PLACING_ATTEMPTS):
        location = cells.locate(lon, lat)
        if location is None:
            cells = geography.cell_snapshot(session)  # outside, or outside old boundaries?
            location = cells.locate(lon, lat)
        if location is None:
            return _outside_city(session, officer, data, body_hash, lon, lat)
        values = _report_values(data, body_hash, officer, location, now, current)
        written = fetch_one(
            session,
            _INTAKE_SQL,
            _write_parameters(values, data, location, cells.version, lon, lat, remote_addr),
        )
        assert written is not None  # the final SELECT always answers one row
        outbox_id, inside, distance, case_number = written
        if inside is not None:
            break
        cells = geography.cell_snapshot(session)  # the boundaries moved: read them again
    else:
        raise TryAgain(_("The grid boundaries are being updated. Send the report again."))
    if outbox_id is None:
        stored = session.get(Report, data.id, populate_existing=True)
        assert stored is not None
        return Intake(_repeat(session, stored, officer, body_hash), created=False, outbox_ids=[])
    values["outside_own_cells"] = not inside
    values["distance_to_own_cells_m"] = distance
    values["case_number"] = case_number  # given by the database's insert trigger

    # The answer is built from what intake already knows (the row's values, the chain, the
    # parties, the point), not re-read with the batch queries, and without instantiating ORM
    # objects just to read their attributes back: this is the hottest path of the platform.
    report = SimpleNamespace(**values)
    lookups = _Lookups(
        refs={
            ("cell", location.cell.id): _chain_ref(location.cell),
            ("area", location.village.id): _chain_ref(location.village),
            ("area", location.township.id): _chain_ref(location.township),
            ("area", location.county.id): _chain_ref(location.county),
        },
        officers={officer.id: officer.display_name},
        parties={data.id: data.parties},
        photos={},
        coords={data.id: (lon, lat)},
    )
    answer = _build(report, lookups, category_names(session), scope.sees_parties_unmasked(officer))
    return Intake(answer, created=True, outbox_ids=[outbox_id])


def _outside_city(
    session: Session, officer: User, data: ReportInput, body_hash: str, lon: float, lat: float
) -> Intake:
    existing = session.get(Report, data.id)
    if existing is not None:  # a repeat: its answer, not an error about its new position
        return Intake(_repeat(session, existing, officer, body_hash), created=False, outbox_ids=[])
    nearest = queries.nearest_cell(session, lon, lat)
    distance = f"{nearest[1] / 1000:.1f}" if nearest else "?"
    raise OutsideCity(
        _(
            "This position is outside the city (%(km)s km from the nearest grid cell). "
            "Check the location and that the coordinate system is right.",
            km=distance,
        ),
        {"lon": _("Outside the city."), "lat": _("Outside the city.")},
    )


def _report_values(
    data: ReportInput,
    body_hash: str,
    officer: User,
    location: queries.Location,
    now: datetime,
    current: settings.Current,
) -> dict[str, Any]:
    """The new report's row, but for the two columns the write works out (own cells)."""
    return {
        "id": data.id,
        "officer_id": officer.id,
        "cell_id": location.cell.id,
        "village_id": location.village.id,
        "township_id": location.township.id,
        "county_id": location.county.id,
        "input_lon": data.lon,
        "input_lat": data.lat,
        "input_crs": data.crs,
        "accuracy_m": data.accuracy_m,
        "occurred_at": data.occurred_at,
        "reported_at": now,
        "category": data.category,
        "severity": data.severity,
        "people_involved": data.people_involved,
        "potential_group_incident": data.people_involved >= current.group_threshold,
        "title": data.title,
        "description": data.description,
        "address": data.address,
        "status": "reported",
        "version": 1,
        "body_hash": body_hash,
        # The case starts owned by its township, with the acceptance clock running.
        "owner_level": "township",
        "owner_area_id": location.township.id,
        "step": "acceptance",
        "step_started_at": now,
        "due_at": current.policy.due("acceptance", data.severity, now),
        # The case keeps this version's rules for life (settings.policy_for_case).
        "deadline_policy_version": current.policy_version,
    }


def _write_parameters(
    values: dict[str, Any],
    data: ReportInput,
    location: queries.Location,
    boundary_version: int,
    lon: float,
    lat: float,
    remote_addr: str | None,
) -> dict[str, Any]:
    """_INTAKE_SQL's parameters. One statement, one round trip: the report, its parties, its
    outbox message and its audit record. Two phones (or one phone retrying) racing with the
    same id: the loser waits for the winner's commit, inserts nothing at all, and answers
    from the stored row."""
    # ID numbers and phones leave the process encrypted (fieldapp.crypto); the keyring is
    # only loaded for a report that has parties.
    parties: list[dict[str, Any]] = []
    if data.parties:
        ring = crypto.keyring()
        parties = [
            {
                "position": i,
                "name": p.name,
                "role": p.role,
                **party_data.stored_party(ring, p.id_number, p.phone),
            }
            for i, p in enumerate(data.parties)
        ]
    return {
        **values,
        "lon": lon,
        "lat": lat,
        "boundary_version": boundary_version,
        "parties": json.dumps(parties, ensure_ascii=False),
        "task": PROCESS_REPORT_TASK,
        "payload": json.dumps({"report_id": str(data.id)}),
        "remote_addr": remote_addr,
        "details": json.dumps(
            {"cell": location.cell.code, "severity": data.severity}, ensure_ascii=False
        ),
    }


def _chain_ref(ref: queries.AreaRef) -> dict[str, Any]:
    return {"id": ref.id, "code": ref.code, "name": ref.name}


def _repeat(session: Session, stored: Report, officer: User, body_hash: str) -> dict[str, Any]:
    if stored.officer_id != officer.id or stored.body_hash != body_hash:
        raise Conflict(
            _("A different report was already sent with this id. Send it with a new id.")
        )
    return report_json(session, stored, officer)


def get_report(session: Session, viewer: User, report_id: uuid.UUID) -> Report:
    """A report the viewer may see; NotFound otherwise (we do not reveal what exists)."""
    report = session.execute(
        scope.visible_reports(select(Report).where(Report.id == report_id), viewer)
    ).scalar_one_or_none()
    if report is None:
        raise NotFound(_("No such report."))
    return report


def list_reports(session: Session, viewer: User, filters: ReportListQuery) -> dict[str, Any]:
    stmt = scope.visible_reports(select(Report), viewer)
    if filters.status:
        stmt = stmt.where(Report.status == filters.status)
    if filters.category:
        stmt = stmt.where(Report.category == filters.category)
    if filters.severity:
        stmt = stmt.where(Report.severity == filters.severity)
    if filters.date_from:
        stmt = stmt.where(Report.reported_at >= day_start(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(Report.reported_at < day_start(filters.date_to + timedelta(days=1)))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows: list[Report] = list(
        session.execute(
            stmt.order_by(Report.reported_at.desc(), Report.id)
            .limit(filters.per_page)
            .offset((filters.page - 1) * filters.per_page)
        )
        .scalars()
        .all()
    )
    return {
        "items": reports_json(session, rows, viewer),
        "page": filters.page,
        "per_page": filters.per_page,
        "total": int(total),
    }


# --- serialisation --------------------------------------------------------------------------


def report_json(session: Session, report: Report, viewer: User) -> dict[str, Any]:
    """One report as its page shows it: parties unmasked for roles that handle the case
    (and that display audited)."""
    return reports_json(session, [report], viewer, reveal=True)[0]


@dataclass(frozen=True)
class PlainParty:
    """A stored party with its personal data decrypted, as the answer shows it."""

    name: str
    id_number: str | None
    phone: str | None
    role: str | None


@dataclass
class _Lookups:
    """Everything report JSON needs besides the report row, gathered once per batch."""

    refs: dict[tuple[str, int], dict[str, Any]]
    officers: dict[int, str]
    parties: Mapping[uuid.UUID, Sequence[ReportParty | PartyInput | PlainParty]]
    photos: dict[uuid.UUID, list[Any]]
    coords: dict[uuid.UUID, tuple[float, float]]


def reports_json(
    session: Session, reports: list[Report], viewer: User, *, reveal: bool = False
) -> list[dict[str, Any]]:
    """JSON for several reports with a fixed number of queries (no N+1). Parties' personal
    data is masked unless `reveal` (one report's own page) and the viewer handles the case;
    every unmasked display is audited."""
    if not reports:
        return []
    ids = [r.id for r in reports]
    area_ids = {a for r in reports for a in (r.village_id, r.township_id, r.county_id)}
    refs: dict[tuple[str, int], dict[str, Any]] = {}
    for a in session.execute(select(Area.id, Area.code, Area.name).where(Area.id.in_(area_ids))):
        refs[("area", a.id)] = {"id": a.id, "code": a.code, "name": a.name}
    cell_ids = {r.cell_id for r in reports}
    for c in session.execute(select(Cell.id, Cell.code, Cell.name).where(Cell.id.in_(cell_ids))):
        refs[("cell", c.id)] = {"id": c.id, "code": c.code, "name": c.name}
    officers = dict(
        session.execute(
            select(User.id, User.display_name).where(User.id.in_({r.officer_id for r in reports}))
        ).all()
    )
    parties: dict[uuid.UUID, list[ReportParty]] = {}
    for p in session.execute(
        select(ReportParty).where(ReportParty.report_id.in_(ids)).order_by(ReportParty.position)
    ).scalars():
        parties.setdefault(p.report_id, []).append(p)
    photos: dict[uuid.UUID, list[Any]] = {}
    for ph in session.execute(
        select(
            Photo.id,
            Photo.report_id,
            Photo.content_type,
            Photo.width,
            Photo.height,
            Photo.exif_lon,
            Photo.exif_lat,
            Photo.exif_taken_at,
            Photo.thumbnail.is_not(None).label("has_thumbnail"),
        )
        .where(Photo.report_id.in_(ids))
        .order_by(Photo.uploaded_at)
    ):
        photos.setdefault(ph.report_id, []).append(ph)
    coords = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(Report.id, func.ST_X(Report.geom), func.ST_Y(Report.geom)).where(
                Report.id.in_(ids)
            )
        )
    }
    unmasked = reveal and scope.sees_parties_unmasked(viewer)
    plain: dict[uuid.UUID, list[PlainParty]] = {}
    if parties:
        ring = crypto.keyring()
        for report_id, stored in parties.items():
            plain[report_id] = [
                PlainParty(p.name, *party_data.plain_values(ring, p), p.role) for p in stored
            ]
            shown = [
                name
                for p in plain[report_id]
                for name, value in (("id_number", p.id_number), ("phone", p.phone))
                if value
            ]
            if unmasked and shown:
                party_data.audit_unmasked_display(session, viewer.id, report_id, shown)
    lookups = _Lookups(refs, officers, plain, photos, coords)
    names = category_names(session)
    return [_build(r, lookups, names, unmasked) for r in reports]


def _build(
    r: Report | SimpleNamespace,
    lookups: _Lookups,
    names: dict[str, tuple[str, str]],
    unmasked: bool,
) -> dict[str, Any]:
    lon, lat = lookups.coords[r.id]
    zh, en = names.get(r.category, (r.category, r.category))
    return {
        "id": str(r.id),
        "case_number": r.case_number,
        "status": r.status,
        "title": r.title,
        "description": r.description,
        "address": r.address,
        "category": r.category,
        "category_name": zh if language() == "zh" else en,
        "severity": r.severity,
        "people_involved": r.people_involved,
        "potential_group_incident": r.potential_group_incident,
        "occurred_at": r.occurred_at.isoformat(),
        "reported_at": r.reported_at.isoformat(),
        "lon": lon,
        "lat": lat,
        "input": {"lon": r.input_lon, "lat": r.input_lat, "crs": r.input_crs},
        "accuracy_m": r.accuracy_m,
        "cell": lookups.refs.get(("cell", r.cell_id)),
        "village": lookups.refs.get(("area", r.village_id)),
        "township": lookups.refs.get(("area", r.township_id)),
        "county": lookups.refs.get(("area", r.county_id)),
        "officer": {"id": r.officer_id, "display_name": lookups.officers.get(r.officer_id)},
        "outside_own_cells": r.outside_own_cells,
        "distance_to_own_cells_m": (
            round(r.distance_to_own_cells_m, 1) if r.distance_to_own_cells_m is not None else None
        ),
        "version": r.version,
        "parties": [_party(p, unmasked) for p in lookups.parties.get(r.id, [])],
        "photos": [_photo(r.id, ph) for ph in lookups.photos.get(r.id, [])],
    }


def category_names(session: Session) -> dict[str, tuple[str, str]]:
    """Every category's (Chinese, English) label, retired ones included (old reports)."""
    return _categories(session)[0]


def _categories(session: Session) -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
    """Labels and the active codes, cached per process until the settings change (an
    administrator renames or retires one: fieldapp.services.settings tells every process
    within SETTINGS_CHECK_SECONDS); read on every report."""

    def build() -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
        rows = session.execute(
            select(Category.code, Category.name_zh, Category.name_en, Category.active)
        ).all()
        names = {code: (zh, en) for code, zh, en, _active in rows}
        active = frozenset(code for code, _zh, _en, is_active in rows if is_active)
        return names, active

    found: tuple[dict[str, tuple[str, str]], frozenset[str]] = settings.cache.get(
        session, "categories", build
    )
    return found


def _ref(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.id, "code": obj.code, "name": obj.name}


def _party(p: ReportParty | PartyInput | PlainParty, unmasked: bool) -> dict[str, Any]:
    if unmasked:
        return {"name": p.name, "id_number": p.id_number, "phone": p.phone, "role": p.role}
    return {
        "name": mask_name(p.name),
        "id_number": mask_id_number(p.id_number),
        "phone": mask_phone(p.phone),
        "role": p.role,
    }


def _photo(report_id: uuid.UUID, ph: Any) -> dict[str, Any]:
    base = f"/api/v1/reports/{report_id}/photos/{ph.id}"
    return {
        "id": str(ph.id),
        "url": base,
        "thumbnail_url": f"{base}/thumbnail" if ph.has_thumbnail else None,
        "content_type": ph.content_type,
        "width": ph.width,
        "height": ph.height,
        "exif_lon": ph.exif_lon,
        "exif_lat": ph.exif_lat,
        "exif_taken_at": ph.exif_taken_at.isoformat() if ph.exif_taken_at else None,
    }
