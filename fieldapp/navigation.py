"""The header's navigation: ONE table of the pages a person may open, by role.

`base.html` renders `nav_entries` from this table for the signed-in user, so adding a page to
the header is one line here (its endpoint, its label, the roles it is for). Entries whose
endpoint is not registered in the running app are skipped, so a line may be added before the
page's blueprint lands. The role sets are the pages' own access rules, imported, not copied:
the header cannot promise a page that then refuses the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from flask import Flask, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy.exc import SQLAlchemyError

from fieldapp.blueprints.admin import ADMIN_ROLES
from fieldapp.blueprints.layers import MAP_ROLES
from fieldapp.blueprints.triage import OVERDUE_ROLES, QUEUE_ROLES
from fieldapp.services.accounts import ROLES
from fieldapp.services.audit import READER_ROLES as AUDIT_ROLES
from fieldapp.services.people import PEOPLE_ROLES
from fieldapp.services.silent import SILENT_ROLES
from fieldapp.services.stats import STATS_ROLES

EVERYONE: Final = frozenset(ROLES)


@dataclass(frozen=True)
class NavEntry:
    """One header link: the Flask endpoint, its label and the roles that see it."""

    key: str
    """Short name; the link's element id is ``nav-<key>`` (the browser tests use it)."""
    endpoint: str
    label: LazyString
    roles: frozenset[str]


NAV: Final[tuple[NavEntry, ...]] = (
    NavEntry("field", "field.app_shell", _l("Field app"), frozenset({"officer"})),
    NavEntry("queue", "triage.index", _l("Triage queue"), QUEUE_ROLES),
    NavEntry(
        "department",
        "triage.department",
        _l("Assigned to my department"),
        frozenset({"department"}),
    ),
    NavEntry("overdue", "triage.overdue", _l("Overdue and supervision"), OVERDUE_ROLES),
    NavEntry("silent", "dashboard.silent_cells", _l("Silent cells"), SILENT_ROLES),
    NavEntry("dashboard", "dashboard.page", _l("Dashboard"), STATS_ROLES),
    NavEntry("map", "city.map_page", _l("Hotspot map"), MAP_ROLES),
    NavEntry("alerts", "city.alerts_page", _l("Hotspot alerts"), MAP_ROLES),
    NavEntry("analysis", "city.analysis_page", _l("Hot spot analyses"), MAP_ROLES),
    NavEntry("inbox", "triage.inbox", _l("Inbox"), EVERYONE),
    NavEntry("exports", "exports.page", _l("Exports"), EVERYONE),
    NavEntry("admin", "admin.index", _l("Administration"), ADMIN_ROLES),
    NavEntry("people", "people.people_list", _l("People"), PEOPLE_ROLES),
    NavEntry("roster", "people.roster_page", _l("Roster import"), ADMIN_ROLES),
    NavEntry("settings", "admin.settings_page", _l("Settings"), ADMIN_ROLES),
    NavEntry("audit", "admin.audit_log", _l("Audit log"), AUDIT_ROLES),
    NavEntry("account", "account.page", _l("My account"), EVERYONE),
)


def entries_for(role: str | None, endpoints: set[str] | None = None) -> list[NavEntry]:
    """The header's entries for `role`, in table order; with `endpoints` (the app's registered
    endpoints) only those that exist."""
    if role is None:
        return []
    return [e for e in NAV if role in e.roles and (endpoints is None or e.endpoint in endpoints)]


def language_url(code: str) -> str:
    """This page's URL in language `code`, keeping its other query arguments."""
    args = {k: v for k, v in request.args.items(multi=True) if k != "lang"}
    return f"{request.path}?{urlencode({**args, 'lang': code})}"


def init_navigation(app: Flask) -> None:
    """Give every template `nav_entries` (the signed-in user's links) and `language_url`."""

    @app.context_processor
    def navigation() -> dict[str, Any]:
        from fieldapp.auth import web_user

        try:
            user = web_user()
        except SQLAlchemyError:  # an error page after a failed transaction must still render
            user = None
        endpoints = set(current_app.view_functions)
        entries = [
            {"key": e.key, "url": url_for(e.endpoint), "label": e.label, "endpoint": e.endpoint}
            for e in entries_for(user.role if user is not None else None, endpoints)
        ]
        return {
            "nav_entries": entries,
            "nav_user": user,
            "language_url": language_url,
        }
