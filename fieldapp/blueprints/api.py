"""The JSON API, /api/v1. Thin: parse, call a service, commit, answer."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import api_token, api_user, csrf, now, remote_addr
from fieldapp.blueprints.fast_path import dispatch_committed
from fieldapp.contract import Contract
from fieldapp.contract.account import (
    PASSWORD_ERRORS,
    TOKEN_ERRORS,
    Me,
    PasswordChangeRequest,
    TokenRequest,
    TokenResponse,
)
from fieldapp.contract.base import Binary, error_answer
from fieldapp.contract.cases import (
    ACTION_DESCRIPTION,
    ACTION_ERRORS,
    ACTION_PATH_PARAM,
    CASE_CLOSED_FIELDS,
    CASE_FIELDS_EXAMPLE,
    CASE_PATH_PARAM,
    NOT_FOUND,
    QUEUE_ERRORS,
    Case,
    CaseAction,
    CaseEventList,
    DuplicateCandidateList,
    QueueQuery,
    WorkQueue,
    action_table,
)
from fieldapp.contract.checkins import Checkin, CheckinInput
from fieldapp.contract.notifications import NotificationList
from fieldapp.contract.reference import (
    AREA_LAYER_ERRORS,
    LOCATE_ERRORS,
    AreaFeatureCollection,
    AreaLayerQuery,
    CategoryList,
    LocateAnswer,
    LocateQuery,
)
from fieldapp.contract.reports import (
    INTAKE_ERRORS,
    PHOTO_ERRORS,
    PHOTO_EXAMPLE,
    PHOTO_ID_PARAM,
    PHOTO_NOT_FOUND,
    PHOTO_UPLOAD,
    REPORT_EXAMPLE,
    REPORT_ID_PARAM,
    REPORT_NOT_FOUND,
    THUMBNAIL_NOT_FOUND,
    Photo,
    Report,
    ReportInput,
    ReportList,
    ReportListQuery,
    raw_body_hash,
)
from fieldapp.crypto import keyring
from fieldapp.db import db
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.errors import ApiError
from fieldapp.http_images import image_response
from fieldapp.i18n import language
from fieldapp.models import User
from fieldapp.services import (
    accounts,
    cases,
    checkins,
    duplicates,
    geography,
    notifications,
    photos,
    queue,
    reports,
)
from fieldapp.services.errors import Unauthorized
from fieldapp.services.locating import locate_point
from fieldapp.services.party_data import user_phone
from grid.crs import to_wgs84

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Bearer tokens, never cookies: a cross-site page cannot make the browser send a token, so
# CSRF tokens would protect nothing here.
csrf.exempt(bp)
contract = Contract(bp)
#: Photos are personal data: shared caches must not keep them (fieldapp.http_images).
IMAGE_HEADERS = {
    "Cache-Control": {
        "description": "`private, max-age=86400`: photos are personal data, so shared caches "
        "must not keep them.",
        "schema": {"type": "string"},
    }
}
REPORT_PATH = {"report_id": REPORT_ID_PARAM}
PHOTO_PATH = {"report_id": REPORT_ID_PARAM, "photo_id": PHOTO_ID_PARAM}


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(
            400, "invalid_json", _("The body must be JSON (Content-Type: application/json).")
        )
    return body


# --- auth ----------------------------------------------------------------------------------


@contract.post(
    "/auth/token",
    body=TokenRequest,
    answers={201: ("Signed in; the token is shown only this once.", TokenResponse)},
    errors=TOKEN_ERRORS,
    public=True,
    tags=("auth",),
    operation_id="issueToken",
    summary="Sign in and get a bearer token (登录)",
)
def issue_token(body: TokenRequest) -> ResponseReturnValue:
    """Checks the username and password and issues a token for one device, valid for 30
    days. Failed attempts are counted per username: after five within 15 minutes, sign-in is
    refused (even with the right password) until the window ends. A one-time password gets no
    token: the user chooses their own first (`POST /auth/password`)."""
    user = _signed_in(body.username, body.password)
    if user.must_change_password:
        db.session.commit()  # the sign-in succeeded: keep its effect on the rate limit
        raise ApiError(
            403,
            "password_change_required",
            _("This is a one-time password: choose your own password to sign in."),
        )
    return _token_answer(user, body.device)


@contract.post(
    "/auth/password",
    body=PasswordChangeRequest,
    answers={
        201: (
            "Password changed and signed in on this device; every other device and browser "
            "of the user is signed out. The token is shown only this once.",
            TokenResponse,
        )
    },
    errors=PASSWORD_ERRORS,
    public=True,
    tags=("auth",),
    operation_id="changePassword",
    summary="Choose your own password and sign in (修改密码并登录)",
)
def change_password(body: PasswordChangeRequest) -> ResponseReturnValue:
    """With the current password, as signing in checks it (and counts failures alike), sets
    the user's own new password, and issues a token for this device. How an officer enrolled
    from the roster replaces the one-time password on the phone, where `POST /auth/token`
    refused it."""
    user = _signed_in(body.username, body.password)
    accounts.replace_own_password(
        db.session,
        user,
        body.password,
        body.new_password,
        phone=user_phone(keyring(), user.phone),
    )
    return _token_answer(user, body.device)


def _signed_in(username: str, password: str) -> User:
    """The user of these credentials (fieldapp.services.accounts.authenticate), or 401/429."""
    try:
        return accounts.authenticate(db.session, username, password, remote_addr(), now())
    except Unauthorized:
        db.session.commit()  # keep the failed attempt: it feeds the rate limit
        raise


def _token_answer(user: User, device: str) -> ResponseReturnValue:
    """A new token for `user` on `device`, committed, as the 201 answer."""
    issued = accounts.issue_token(db.session, user, device or "unknown", now())
    db.session.commit()
    return jsonify(
        {
            "token": issued.token,
            "expires_at": issued.expires_at.isoformat(),
            "user": {
                "id": user.id,
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role,
            },
        }
    ), 201


@contract.delete(
    "/auth/token",
    answers={204: ("Revoked; the token no longer works.", None)},
    tags=("auth",),
    operation_id="revokeToken",
    summary="Sign this device out (退出登录)",
)
def revoke_token() -> ResponseReturnValue:
    """Revokes the token sent in the Authorization header; other devices of the same user stay
    signed in."""
    user = api_user()
    accounts.revoke_token(db.session, api_token(), actor_id=user.id)
    db.session.commit()
    return Response(status=204)


@contract.get(
    "/me",
    answers={200: ("The user.", Me)},
    tags=("account",),
    operation_id="getMe",
    summary="The signed-in user, their area and grid cells (当前用户)",
)
def me() -> ResponseReturnValue:
    """An officer (网格员) gets the cells they are responsible for, with village and township;
    staff get the area they are responsible for (`area`)."""
    user = api_user()
    return jsonify(accounts.me_json(db.session, user))


# --- reference data --------------------------------------------------------------------------


@contract.get(
    "/categories",
    answers={200: ("The categories.", CategoryList)},
    public=True,
    tags=("reference",),
    operation_id="listCategories",
    summary="Dispute categories (纠纷类别)",
)
def categories() -> ResponseReturnValue:
    """The active categories in display order. `code` is stable and is what a report's
    `category` takes; `name` is in the request's language (`?lang=en`)."""
    return jsonify({"categories": reports.list_categories(db.session, language())})


@contract.get(
    "/locate",
    query=LocateQuery,
    answers={200: ("The cell and its chain, or `found: false`.", LocateAnswer)},
    errors=LOCATE_ERRORS,
    public=True,
    tags=("reference",),
    operation_id="locatePoint",
    summary="Which grid cell is this point in? (网格定位)",
)
def locate(query: LocateQuery) -> ResponseReturnValue:
    """Answers the grid cell (网格) containing the point and its chain: village or community
    (村/社区), township (乡镇/街道), county-level unit (区/县) and city. A point outside the
    city's grid is not an error: the answer has `found: false`, a message for the user and,
    when there is one, the nearest cell with its distance. `lon`/`lat` in the answer are
    WGS-84; with `crs` other than wgs84 the point as sent is repeated in `input`."""
    wgs_lon, wgs_lat = to_wgs84(query.lon, query.lat, query.crs)
    answer = locate_point(db.session, wgs_lon, wgs_lat)
    if query.crs != "wgs84":
        answer["input"] = {"lon": query.lon, "lat": query.lat, "crs": query.crs}
    if not answer["found"]:
        answer["message"] = _(
            "This point is outside the city's grid. Check the position (is it WGS-84, "
            "and longitude before latitude?)."
        )
    return jsonify(answer)


@contract.get(
    "/layers/areas",
    query=AreaLayerQuery,
    answers={200: ("The areas.", AreaFeatureCollection)},
    errors=AREA_LAYER_ERRORS,
    public=True,
    tags=("reference",),
    operation_id="getAreaLayer",
    summary="Area boundaries of one level as GeoJSON (区划边界图层)",
)
def area_layer(query: AreaLayerQuery) -> ResponseReturnValue:
    """A GeoJSON FeatureCollection (WGS-84) of every area of `level`, simplified for drawing on
    a map; with `bbox`, only the areas whose bounding box meets it. Neighbouring areas share
    their simplified edges, so the layer has no gaps or slivers."""
    return jsonify(geography.area_layer(db.session, query.level, query.bbox))


# --- reports -------------------------------------------------------------------------------


@contract.post(
    "/reports",
    body=ReportInput,
    answers={
        201: ("Filed.", Report, {"filed": ("The new report", REPORT_EXAMPLE)}),
        200: (
            "A repeat of a report already filed with this id and the same body; nothing new "
            "was written.",
            Report,
            {"repeat": ("The stored report", REPORT_EXAMPLE)},
        ),
    },
    errors=INTAKE_ERRORS,
    tags=("reports",),
    operation_id="createReport",
    summary="File an early dispute report (上报矛盾纠纷)",
)
def create_report(body: ReportInput) -> ResponseReturnValue:
    """For grid officers (网格员) only. The server locates the point in the grid (the report
    belongs to the cell it falls in, even outside the officer's own cells — then
    `outside_own_cells` is true with the distance), converts GCJ-02/BD-09 to WGS-84 keeping
    the original, and marks a potential group incident (群体性) from the number of people
    involved (default threshold 5).

    Idempotent on `id`, a UUID the phone makes: sending the same id and the same body again
    answers **200** with the stored report (e.g. after a lost answer); the same id with a
    different body is a **409**. Unknown fields are refused."""
    user = api_user()
    intake = reports.file_report(
        db.session,
        user,
        body,
        body_hash=raw_body_hash(request.get_data()),
        now=now(),
        remote_addr=remote_addr(),
        group_threshold=current_app.config["GROUP_INCIDENT_THRESHOLD"],
        policy=current_app.config["DEADLINE_POLICY"],
    )
    db.session.commit()
    dispatch_committed(intake.outbox_ids)
    return jsonify(intake.report), 201 if intake.created else 200


@contract.get(
    "/reports",
    query=ReportListQuery,
    answers={200: ("One page of reports.", ReportList)},
    errors={
        400: (
            "A filter or the pagination is malformed.",
            {
                "bad_filters": (
                    "per_page too large, unreadable date",
                    error_answer(
                        "invalid_parameters",
                        "Check the filters.",
                        {"per_page": "At most 100.", "from": "A date like 2026-11-25."},
                    ),
                )
            },
        )
    },
    tags=("reports",),
    operation_id="listReports",
    summary="Reports the caller may see, newest first (上报列表)",
)
def list_reports(query: ReportListQuery) -> ResponseReturnValue:
    """Scoped by role and area: an officer sees their own reports, a coordinator (信访专干)
    their township's, county staff their county's, city staff all. Newest `reported_at`
    first. `from` and `to` are days in China Standard Time, both inclusive, on `reported_at`.
    Parties are masked in this list for every role (a single report, `GET /reports/{id}`,
    shows them to roles that handle the case)."""
    user = api_user()
    return jsonify(reports.list_reports(db.session, user, query))


def _uuid(value: str, name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", _("No such report.")) from None


@contract.get(
    "/reports/<report_id>",
    path_params=REPORT_PATH,
    answers={200: ("The report.", Report)},
    errors={404: REPORT_NOT_FOUND},
    tags=("reports",),
    operation_id="getReport",
    summary="One report (上报详情)",
)
def get_report(report_id: str) -> ResponseReturnValue:
    """404 when the report does not exist or is outside the caller's scope: the API does not
    reveal which."""
    user = api_user()
    report = reports.get_report(db.session, user, _uuid(report_id))
    return jsonify(reports.report_json(db.session, report, user))


@contract.post(
    "/reports/<report_id>/photos",
    path_params=REPORT_PATH,
    body_media=PHOTO_UPLOAD,
    answers={
        201: (
            "Attached.",
            Photo,
            {"new": ("Just attached: no thumbnail yet", {**PHOTO_EXAMPLE, "thumbnail_url": None})},
        ),
        200: (
            "These bytes were already attached to this report.",
            Photo,
            {"again": ("The stored photo", PHOTO_EXAMPLE)},
        ),
    },
    errors={**PHOTO_ERRORS, 404: REPORT_NOT_FOUND},
    tags=("photos",),
    operation_id="addReportPhoto",
    summary="Attach a photo to a report (上传现场照片)",
)
def add_photo(report_id: str) -> ResponseReturnValue:
    """Only the officer who filed the report. The file is checked from its bytes (JPEG, PNG
    or WebP; the file name and declared type are ignored); position and time are read from
    its EXIF data when present. The same bytes sent again attach once (200). At most 12
    photos per report; the thumbnail is made shortly after by a worker, so `thumbnail_url`
    is null at first."""
    user = api_user()
    upload = request.files.get("photo")
    if upload is None:
        raise ApiError(
            400,
            "invalid_photo",
            _("Send the photo as multipart field “photo”."),
            {"photo": _("Required.")},
        )
    max_bytes = current_app.config["MAX_PHOTO_BYTES"]
    data = upload.stream.read(max_bytes + 1)
    result = photos.add_photo(
        db.session, user, _uuid(report_id), data, max_bytes=max_bytes, remote_addr=remote_addr()
    )
    db.session.commit()
    dispatch_committed(result.outbox_ids)
    return jsonify(result.photo), 201 if result.created else 200


@contract.get(
    "/reports/<report_id>/photos/<photo_id>",
    path_params=PHOTO_PATH,
    answers={
        200: (
            "The image, in the type it was uploaded in.",
            Binary(("image/jpeg", "image/png", "image/webp"), IMAGE_HEADERS),
        )
    },
    errors={404: PHOTO_NOT_FOUND},
    tags=("photos",),
    operation_id="getReportPhoto",
    summary="The photo's bytes as uploaded (照片原图)",
)
def photo(report_id: str, photo_id: str) -> ResponseReturnValue:
    """For whoever may see the report."""
    user = api_user()
    found = photos.get_photo(db.session, user, _uuid(report_id), _uuid(photo_id))
    return image_response(found.data, found.content_type)


@contract.get(
    "/reports/<report_id>/photos/<photo_id>/thumbnail",
    path_params=PHOTO_PATH,
    answers={200: ("The thumbnail.", Binary(("image/jpeg",), IMAGE_HEADERS))},
    errors={404: THUMBNAIL_NOT_FOUND},
    tags=("photos",),
    operation_id="getReportPhotoThumbnail",
    summary="A small JPEG of the photo (缩略图)",
)
def photo_thumbnail(report_id: str, photo_id: str) -> ResponseReturnValue:
    """At most 320 pixels on the long side. Made by a background worker shortly after the
    upload; until then the answer is 404 with code `not_ready`: try again later, or use the
    photo's `thumbnail_url`, which is set once it exists."""
    user = api_user()
    found = photos.get_photo(db.session, user, _uuid(report_id), _uuid(photo_id))
    if found.thumbnail is None:
        raise ApiError(404, "not_ready", _("The thumbnail is being made; try again shortly."))
    return image_response(found.thumbnail, "image/jpeg")


@contract.post(
    "/checkins",
    body=CheckinInput,
    answers={
        201: ("The day's first check-in.", Checkin),
        200: ("The day's check-in was updated.", Checkin),
    },
    errors={403: "The caller is not a grid officer."},
    tags=("checkins",),
    operation_id="checkIn",
    summary="Zero reporting check-in for a day (零报告)",
)
def checkin(body: CheckinInput) -> ResponseReturnValue:
    """Every grid officer checks in each day, also when there is nothing to report, so that
    silence can be told from calm; missed check-ins count against the area's 零报告
    compliance. One check-in per officer and day: sending again updates it (e.g. first
    "nothing", later a finding). A phone that was offline may check in for up to 7 days back.
    For grid officers only."""
    user = api_user()
    result, created = checkins.check_in(
        db.session, user, body, now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result), 201 if created else 200


# --- cases (the workflow) --------------------------------------------------------------------


def _policy() -> DeadlinePolicy:
    policy: DeadlinePolicy = current_app.config["DEADLINE_POLICY"]
    return policy


def _step_context() -> dict[str, Any]:
    """Who asks (401 first), then which step (404 for a name that is none): the body is
    checked for that step's fields."""
    api_user()
    return {"action": cases.action_named(str((request.view_args or {}).get("action")))}


CASE_EXAMPLE = {**REPORT_EXAMPLE, **CASE_FIELDS_EXAMPLE}
CASE_PARAMS = {"report_id": CASE_PATH_PARAM}


@contract.post(
    "/cases/<report_id>/actions/<action>",
    body=CaseAction,
    context=_step_context,
    answers={
        200: (
            "The case after the step (its `version` raised by one).",
            Case,
            {"assigned": ("After 交办", CASE_EXAMPLE)},
        )
    },
    errors=ACTION_ERRORS,
    path_params={**CASE_PARAMS, "action": ACTION_PATH_PARAM},
    tags=("cases",),
    operation_id="takeCaseAction",
    summary="Take a step in the case workflow (办理操作)",
    extra={"description": ACTION_DESCRIPTION + action_table()},
)
def case_action(report_id: str, action: str, body: CaseAction) -> ResponseReturnValue:
    user = api_user()
    result = cases.act(
        db.session,
        user,
        _uuid(report_id),
        cases.action_named(action),
        body,
        now=now(),
        policy=_policy(),
        remote_addr=remote_addr(),
    )
    db.session.commit()
    return jsonify(result)


@contract.get(
    "/cases/<report_id>",
    answers={
        200: (
            "The case.",
            Case,
            {
                "assigned": ("Assigned, as its township coordinator sees it", CASE_EXAMPLE),
                "closed": ("Closed and followed up", {**CASE_EXAMPLE, **CASE_CLOSED_FIELDS}),
            },
        )
    },
    errors={404: NOT_FOUND},
    path_params=CASE_PARAMS,
    tags=("cases",),
    operation_id="getCase",
    summary="One case: the report with its deadline and light (案件详情)",
)
def get_case(report_id: str) -> ResponseReturnValue:
    """The report (as `GET /reports/{report_id}` answers it, same scope and masking) plus the
    case fields: who owns it (`owner_level`), the department it is assigned to, the step whose
    clock runs, the due time and warning light (green; yellow from 2/3 of the allowed time;
    red when overdue — derived from the clock, never stored), how it was closed, and
    `allowed_actions`: the steps the caller may take now."""
    user = api_user()
    report = reports.get_report(db.session, user, _uuid(report_id))
    return jsonify(cases.case_json(db.session, report, user, now=now(), policy=_policy()))


@contract.get(
    "/cases/<report_id>/events",
    answers={200: ("The events.", CaseEventList)},
    errors={404: NOT_FOUND},
    path_params=CASE_PARAMS,
    tags=("cases",),
    operation_id="listCaseEvents",
    summary="The case's record, oldest first (办理记录)",
)
def case_events(report_id: str) -> ResponseReturnValue:
    """Every step taken on the case, append-only. Besides the actions of
    `/cases/{report_id}/actions/{action}`, the record holds `merged_in` (another case was
    merged into this one; `data.duplicate` is its id), `unmerged_out` (that merge undone) and
    automatic escalations by the deadline sweep (`actor` null, `data.automatic` true)."""
    user = api_user()
    return jsonify({"events": cases.events(db.session, user, _uuid(report_id))})


@contract.get(
    "/cases/<report_id>/duplicates",
    answers={
        200: (
            "The candidates, most similar first; empty when there are none.",
            DuplicateCandidateList,
        )
    },
    errors={404: NOT_FOUND},
    path_params=CASE_PARAMS,
    tags=("cases",),
    operation_id="listCaseDuplicates",
    summary="Possible duplicates of the case (疑似重复)",
)
def case_duplicates(report_id: str) -> ResponseReturnValue:
    """Open reports of the same category, reported up to 7 days before this one and within
    300 m of it, that the caller may see, ranked by text similarity of title and description
    (pg_trgm), then distance; at most 10. The owner merges a duplicate with the `merge`
    action."""
    user = api_user()
    report = reports.get_report(db.session, user, _uuid(report_id))
    found = duplicates.candidates(db.session, report.id, user)
    return jsonify({"candidates": [c.as_dict() for c in found]})


@contract.get(
    "/queue",
    query=QueueQuery,
    answers={
        200: (
            "One page of the queue.",
            WorkQueue,
            {
                "page": (
                    "A coordinator's queue",
                    {
                        "items": [
                            {**CASE_EXAMPLE, "repeat_place_reports": 3, "possible_duplicate": False}
                        ],
                        "page": 1,
                        "per_page": 50,
                        "total": 1,
                    },
                )
            },
        )
    },
    errors=QUEUE_ERRORS,
    tags=("cases",),
    operation_id="getWorkQueue",
    summary="The caller's work queue by priority (待办队列), or the overdue list",
)
def triage_queue(query: QueueQuery) -> ResponseReturnValue:
    """Open cases only. `view=mine` (default): a coordinator's township cases still at
    township level, county staff's cases escalated to their county, city staff's cases
    escalated to the city, a department handler's assigned cases. `view=overdue` (county and
    city staff only): every open case in their area past its due time. Sorted by urgency
    (`sort=urgency`, the default): due time first — overdue ones have the earliest, so the
    longest overdue comes first, then the least time left, none last — then severity (red
    first), potential group incident and reported time. `sort=severity` puts severity first;
    `sort=newest` the latest received. `q` searches case number, title, address and
    description. Each item is a case plus `repeat_place_reports` and `possible_duplicate`."""
    user = api_user()
    return jsonify(queue.queue(db.session, user, query, now=now(), policy=_policy()))


@contract.get(
    "/notifications",
    answers={200: ("The notifications.", NotificationList)},
    tags=("notifications",),
    operation_id="listNotifications",
    summary="The caller's inbox, newest first (站内消息)",
)
def inbox() -> ResponseReturnValue:
    """The latest 50 notifications of the signed-in user. Each is stored once per user,
    `kind` and `subject_id`, so a repeated event does not notify twice."""
    user = api_user()
    items = notifications.inbox(db.session, user)
    return jsonify(
        {
            "notifications": [
                {
                    "id": n.id,
                    "kind": n.kind,
                    "text": n.text,
                    "subject_id": n.subject_id,
                    "created_at": n.created_at.isoformat(),
                    "read_at": n.read_at.isoformat() if n.read_at else None,
                }
                for n in items
            ]
        }
    )
