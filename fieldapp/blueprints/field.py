"""The grid officer's mobile web app, /field/: one page that works offline.

Thin on purpose: the page talks to the JSON API (/api/v1) itself. The server only decides the
language, renders the UI strings into the page (Flask-Babel, so one catalogue for everything)
and serves the web app manifest and the service worker. The service worker is served from
/field/ rather than /static/ so that its scope is /field/ without a Service-Worker-Allowed
header; its cache name carries a hash of the files it precaches, so any change to the app
replaces the cache on the phones at their next online visit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import api_user, csrf, now
from fieldapp.contract import Contract
from fieldapp.contract.base import error_answer
from fieldapp.contract.checkins import CheckinDays, CheckinDaysQuery
from fieldapp.contract.reports import REPORT_ID_PARAM, OwnReportProgress
from fieldapp.db import db
from fieldapp.domain import CHINA_TZ
from fieldapp.errors import ApiError
from fieldapp.i18n import language, language_tag
from fieldapp.labels import SEVERITY_LABELS, STATE_LABELS
from fieldapp.services import own_reports, passwords

bp = Blueprint("field", __name__, url_prefix="/field")
# The officer's own reports and check-ins, read by the field app (bearer tokens, no cookies:
# nothing for CSRF to forge, like the rest of /api/v1).
api_bp = Blueprint("field_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
contract = Contract(api_bp)

STATIC = Path(__file__).resolve().parent.parent / "static"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LEAFLET = "vendor/leaflet/1.9.3"
THEME_COLOUR = "#b71c1c"
# Files whose content decides the service worker's cache version.
VERSIONED_FILES = (
    STATIC / "field" / "app.js",
    STATIC / "field" / "app.css",
    STATIC / "field" / "sw.js",
    STATIC / "field" / "icon-192.png",
    STATIC / "field" / "icon-512.png",
    TEMPLATES / "field" / "app.html",
    Path(__file__).resolve(),
)


def ui_strings() -> dict[str, str]:
    """Every string the page shows, in the request's language. Called per request: gettext
    must run inside the request to pick the language."""
    return {
        # chrome
        "app_name": _("Rizhao grid officer"),
        "offline": _("Offline: reports are kept on this phone and sent when there is signal."),
        "online": _("Online"),
        "tab_new": _("File a report"),
        "tab_list": _("My reports"),
        "sign_out": _("Sign out"),
        "sign_out_confirm": _(
            "%(n)s report(s) are still waiting to be sent. They stay on this phone and are "
            "sent after the next sign-in. Sign out?"
        ),
        # sign-in
        "sign_in_title": _("Sign in"),
        "username": _("Username"),
        "password": _("Password"),
        "sign_in": _("Sign in"),
        "signing_in": _("Signing in…"),
        "sign_in_offline": _("Signing in needs a network connection. Try again when online."),
        "sign_in_again": _(
            "Your sign-in has expired. Sign in again; waiting reports are kept and sent afterwards."
        ),
        "rate_limited": _("Too many attempts. Wait a moment and try again."),
        "choose_password": _("Choose your own password"),
        "choose_password_rules": _(
            "The password you were given is for the first sign-in only. Choose your own: at "
            "least %(n)d characters, not your username or phone number.",
            n=passwords.MIN_LENGTH,
        ),
        "new_password": _("New password"),
        "confirm_password": _("New password again"),
        "passwords_differ": _("The two new passwords differ."),
        "set_password_and_sign_in": _("Save password and sign in"),
        "queue_other_user": _("Waiting for %(user)s to sign in on this phone."),
        "signed_in_as": _("Signed in as %(name)s"),
        # position
        "position": _("Position"),
        "locate_me": _("Use my location"),
        "locating": _("Finding your position…"),
        "accuracy": _("Accuracy ±%(m)s m"),
        "position_by_hand": _("Position set by hand on the map"),
        "drag_pin": _("Drag the pin to the exact place."),
        "geo_denied": _(
            "Location permission is off. Allow it for this site, or tap the map to place the pin."
        ),
        "geo_unavailable": _("No position from the phone yet. Tap the map to place the pin."),
        "geo_unsupported": _("This browser cannot give a position. Tap the map to place the pin."),
        "cell": _("Grid cell"),
        "cell_finding": _("Finding the grid cell…"),
        "cell_offline": _("Offline: the grid cell will be found when the report is sent."),
        "cell_outside": _("Outside the city's grid. Nearest cell: %(name)s, %(m)s m away."),
        "cell_not_own": _("This is not one of your cells; the report will be flagged."),
        "position_required": _("Set the position: use your location or tap the map."),
        # report fields
        "occurred_at": _("When did it happen"),
        "category": _("Category"),
        "choose": _("Choose…"),
        "categories_unavailable": _(
            "Categories are not on this phone yet. Connect once to download them."
        ),
        "severity": _("Severity"),
        # severities: the labels of every page (fieldapp.labels), written once
        **{f"sev_{key}": str(text) for key, text in SEVERITY_LABELS.items()},
        "sev_red_hint": _("Report immediately"),
        "sev_orange_hint": _("Handle the same day"),
        "sev_yellow_hint": _("Solved on site"),
        "people_involved": _("People involved"),
        "group_incident": _("%(n)s or more people: possible group incident."),
        "parties": _("Parties"),
        "add_party": _("Add a party"),
        "remove": _("Remove"),
        "party_name": _("Full name"),
        "party_id_number": _("ID number"),
        "party_phone": _("Phone"),
        "party_role": _("Role"),
        "title": _("Title"),
        "description": _("Description"),
        "address": _("Address"),
        "optional": _("optional"),
        "photos": _("Photos"),
        "add_photos": _("Take or add photos"),
        "submit": _("Save and send"),
        "saved_waiting": _("Saved on this phone. It will be sent when there is signal."),
        "saved_sending": _("Saved. Sending…"),
        "fix_fields": _("Some fields need correcting."),
        "save_failed": _("Could not save on this phone: %(error)s"),
        "v_photo_too_large": _("This photo is larger than %(mb)s MB; choose a smaller one."),
        # validation (mirrors the server)
        "v_required": _("Required."),
        "v_too_long": _("Too long: %(length)s characters; at most %(limit)s."),
        "v_people": _("A whole number of people, 1 or more."),
        "v_future": _("This time is in the future. Check the phone's clock."),
        "v_too_old": _("More than a year ago; early reports are for recent events."),
        "v_bad_time": _("Not a date and time."),
        "v_party_name": _("Required, at most 50 characters."),
        "v_id_number": _("An 18-digit resident ID number (the last may be X)."),
        "v_phone": _("A phone number of digits."),
        "v_role": _("At most 30 characters."),
        "v_max_parties": _("At most %(n)s parties."),
        # queue and list
        "state_waiting": _("Waiting to send"),
        "state_sending": _("Sending…"),
        "state_sent": _("Sent"),
        "state_attention": _("Needs attention"),
        "next_try": _("next try %(time)s"),
        "photos_pending": _("%(done)s of %(total)s photos sent"),
        "on_this_phone": _("On this phone"),
        "on_server": _("Sent reports"),
        "nothing_queued": _("Nothing waiting on this phone."),
        "no_reports": _("No reports yet."),
        "server_list_offline": _("Offline: the list from the server is shown when online."),
        "load_more": _("More"),
        "send_now": _("Send now"),
        "edit": _("Correct and send again"),
        "delete": _("Delete"),
        "delete_confirm": _("Delete this report from this phone? It has not been sent."),
        "editing": _("Correcting a report that was not accepted. Fix the marked fields."),
        "cancel_edit": _("Cancel"),
        "checkin_item": _("Daily check-in for %(date)s"),
        "report_outside": _("outside your cells"),
        # statuses from the server
        # a report's state: the labels of every page (fieldapp.labels), written once
        **{f"status_{key}": str(label) for key, label in STATE_LABELS.items()},
        # the officer's own report page
        "back_to_list": _("My reports"),
        "report_status": _("Status:"),
        "handled_by": _("Handled by:"),
        "report_timeline": _("What happened"),
        # daily check-in
        "checkin": _("Nothing to report today"),
        "checkin_hint": _("Daily check-in (zero report): tap when you found nothing today."),
        "checkin_done": _("Checked in for today."),
        "checkin_waiting": _("Check-in saved; it will be sent when there is signal."),
        # generic
        "network_error": _("No connection to the server."),
        "server_error": _("The server could not take it (%(status)s). It will be tried again."),
        "conflict": _(
            "A different report with the same number is already on the server. Correct and "
            "send it as a new report, or delete it."
        ),
        "update_ready": _("A new version of the app is ready; it is used from the next start."),
    }


@bp.get("/")
def app_shell() -> ResponseReturnValue:
    chosen = language()
    config = {
        "language": chosen,
        "locale": language_tag(chosen),
        "api": "/api/v1",
        # The zone the server counts days and shows times in (the phone's own may differ).
        "time_zone": CHINA_TZ.key,
        "group_threshold": current_app.config.get("GROUP_INCIDENT_THRESHOLD", 5),
        "max_photo_bytes": current_app.config.get("MAX_PHOTO_BYTES", 10 * 1024 * 1024),
        "tile_url": current_app.config.get("TILE_URL"),
        "tile_attribution": current_app.config.get("TILE_ATTRIBUTION", ""),
        "sw_url": url_for("field.service_worker"),
        "version": asset_version(),
    }
    response = Response(
        render_template(
            "field/app.html",
            language=chosen,
            i18n=ui_strings(),
            config=config,
            leaflet=LEAFLET,
            theme_colour=THEME_COLOUR,
        )
    )
    # The service worker keeps its own copy; the browser's HTTP cache must not hide updates.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    body = {
        "name": "日照网格员",
        "short_name": "网格员",
        "description": _("File early dispute reports from the field, also with no signal."),
        "lang": language_tag(),
        "start_url": url_for("field.app_shell"),
        "scope": url_for("field.app_shell"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "icons": [
            {
                "src": url_for("static", filename=f"field/icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for size in (192, 512)
        ],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    source = (STATIC / "field" / "sw.js").read_text(encoding="utf-8")
    precache = [
        url_for("field.app_shell"),
        url_for("field.manifest"),
        url_for("static", filename="field/app.js"),
        url_for("static", filename="field/app.css"),
        url_for("static", filename="field/icon-192.png"),
        url_for("static", filename="field/icon-512.png"),
        url_for("static", filename=f"{LEAFLET}/leaflet.js"),
        url_for("static", filename=f"{LEAFLET}/leaflet.css"),
        url_for("static", filename=f"{LEAFLET}/images/marker-icon.png"),
        url_for("static", filename=f"{LEAFLET}/images/marker-icon-2x.png"),
        url_for("static", filename=f"{LEAFLET}/images/marker-shadow.png"),
    ]
    source = source.replace('"__VERSION__"', json.dumps(asset_version())).replace(
        '["__PRECACHE__"]', json.dumps(precache)
    )
    response = Response(source, mimetype="text/javascript")
    # Browsers check for a new worker at most daily when cached; no-cache makes every check
    # reach the server (a cheap 304 when nothing changed).
    response.headers["Cache-Control"] = "no-cache"
    return response


def asset_version() -> str:
    """A short hash of the app's files; changes whenever one of them changes."""
    stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in VERSIONED_FILES)
    return _hash_files(stamps)


@lru_cache(maxsize=8)
def _hash_files(stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _mtime, _size in stamps:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


# --- the officer's own reports and check-ins (API) -------------------------------------------


@contract.get(
    "/reports/<report_id>/progress",
    path_params={"report_id": REPORT_ID_PARAM},
    answers={200: ("The report's progress.", OwnReportProgress)},
    errors={
        403: (
            "Not a grid officer.",
            {"not_officer": ("Staff", error_answer("forbidden", "只有网格员有自己的上报。"))},
        ),
        404: (
            "No report of the caller's with this id.",
            {"not_found": ("Not the caller's", error_answer("not_found", "没有这条您的上报。"))},
        ),
    },
    tags=("reports",),
    operation_id="getOwnReportProgress",
    summary="The officer's own report: status, handler, timeline (我的上报进展)",
)
def report_progress(report_id: str) -> ResponseReturnValue:
    """For the grid officer who filed the report: its state, who handles it (township,
    department) and what happened, oldest first, as far as the reporter may see: accepted,
    rejected with the reason, merged into which case, assigned to which department, closed
    with which outcome. Internal steps (progress notes, extensions, supervision) are left
    out. Times in China time. Anyone else's report, or an unknown id, is 404."""
    user = api_user()
    try:
        rid = uuid.UUID(report_id)
    except ValueError:
        raise ApiError(404, "not_found", _("No such report of yours.")) from None
    return jsonify(own_reports.report_progress(db.session, user, rid))


@contract.get(
    "/checkins",
    query=CheckinDaysQuery,
    answers={200: ("The days.", CheckinDays)},
    errors={403: "Not a grid officer."},
    tags=("checkins",),
    operation_id="listOwnCheckins",
    summary="The officer's own recent check-in days (我的签到)",
)
def my_checkins(query: CheckinDaysQuery) -> ResponseReturnValue:
    """China days of the caller's check-ins within the last `days` days (today included),
    newest first: a new or reset phone shows today's check-in as done when the server has it.
    For grid officers only."""
    user = api_user()
    days = own_reports.checkin_days(db.session, user, now=now(), days=query.days)
    return jsonify({"days": days})
