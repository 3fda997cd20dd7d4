"""Parsing and validating a report as an officer's phone sends it (pure: no database, no
Flask request). Every problem is reported at once, per field, in the user's language."""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from fieldapp import bounds
from fieldapp.services.errors import InvalidInput
from grid.crs import CRS_NAMES

SEVERITIES = ("red", "orange", "yellow")
CHINA_TZ = ZoneInfo("Asia/Shanghai")
# A phone's clock may run a little fast; more than this ahead is a wrong clock or a typo.
FUTURE_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=366)
MAX_PARTIES = 20
LIMITS = {"title": 100, "description": 2000, "address": 200}
ALLOWED_FIELDS = frozenset(
    {
        "id",
        "lon",
        "lat",
        "crs",
        "accuracy_m",
        "occurred_at",
        "category",
        "severity",
        "people_involved",
        "title",
        "description",
        "address",
        "parties",
    }
)
ID_NUMBER = re.compile(r"^(\d{17}[\dXx]|\d{15})$")
PHONE = re.compile(r"^\+?[\d\- ]{5,20}$")


@dataclass(frozen=True)
class PartyInput:
    name: str
    id_number: str | None = None
    phone: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ReportInput:
    id: uuid.UUID
    lon: float
    lat: float
    crs: str
    accuracy_m: float | None
    occurred_at: datetime
    category: str
    severity: str
    people_involved: int
    title: str
    description: str
    address: str | None
    parties: list[PartyInput] = field(default_factory=list)
    body_hash: str = ""


def parse_day(raw: str | None) -> date | None:
    """An ISO date (a query parameter) inside the window of `fieldapp.bounds`, None when
    absent; ValueError carries the message a person sees."""
    return bounds.parse_day(raw)


def body_hash(body: dict[str, Any]) -> str:
    """The same report sent twice hashes the same whatever the key order."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _number(value: Any) -> float | None:
    # bool is an int in Python, but `true` is never a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def parse_report(body: Any, *, now: datetime, categories: set[str]) -> ReportInput:
    """A validated `ReportInput`, or `InvalidInput` naming every bad field."""
    if not isinstance(body, dict):
        raise InvalidInput(_("The report must be a JSON object."), {}, code="invalid_report")
    errors: dict[str, str] = {}
    for unknown in sorted(set(body) - ALLOWED_FIELDS)[:10]:
        errors[unknown] = _("Unknown field; remove it.")

    report_id: uuid.UUID | None = None
    try:
        report_id = uuid.UUID(str(body.get("id", "")))
    except ValueError:
        errors["id"] = _(
            "Required: a UUID made on the phone, e.g. %(example)s.",
            example="9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23",
        )

    coords: dict[str, float] = {}
    for name, limit in (("lon", 180.0), ("lat", 90.0)):
        value = _number(body.get(name))
        if value is None:
            errors[name] = _("Required: a number of degrees.")
        elif not math.isfinite(value):
            errors[name] = _("Must be a finite number.")
        elif abs(value) > limit:
            errors[name] = _(
                "Out of range: must lie between -%(limit)d and %(limit)d.", limit=int(limit)
            )
        else:
            coords[name] = value
    crs = body.get("crs", "wgs84")
    if crs not in CRS_NAMES:
        errors["crs"] = _("One of: wgs84, gcj02, bd09.")

    accuracy = body.get("accuracy_m")
    if accuracy is not None:
        accuracy = _number(accuracy)
        if accuracy is None or not math.isfinite(accuracy) or not 0 <= accuracy <= 100_000:
            errors["accuracy_m"] = _("A distance in metres between 0 and 100,000.")

    occurred_at = _parse_time(body.get("occurred_at"), now, errors)

    category = body.get("category")
    if not isinstance(category, str) or category not in categories:
        errors["category"] = _("Unknown category; choose one from /api/v1/categories.")
    severity = body.get("severity")
    if severity not in SEVERITIES:
        errors["severity"] = _("One of: red, orange, yellow.")
    people = body.get("people_involved")
    # At least the person reporting or the parties: a dispute involves someone (0 was the
    # form's default and was accepted, issue #14).
    if isinstance(people, bool) or not isinstance(people, int) or not 1 <= people <= 100_000:
        errors["people_involved"] = _("A whole number of people, 1 or more.")

    texts: dict[str, str | None] = {}
    for name, limit in LIMITS.items():
        text = body.get(name)
        required = name != "address"
        if text is None and not required:
            texts[name] = None
            continue
        if not isinstance(text, str) or not text.strip():
            errors[name] = _("Required.") if required else _("Must be text.")
            continue
        text = text.strip()
        if len(text) > limit:
            errors[name] = _(
                "Too long: %(length)d characters; at most %(limit)d.", length=len(text), limit=limit
            )
            continue
        if "\x00" in text:
            errors[name] = _("Contains a character that is not allowed.")
            continue
        texts[name] = text

    parties = _parse_parties(body.get("parties"), errors)

    if errors:
        raise InvalidInput(_("Some fields need correcting."), errors, code="invalid_report")
    assert report_id is not None and occurred_at is not None
    return ReportInput(
        id=report_id,
        lon=coords["lon"],
        lat=coords["lat"],
        crs=str(crs),
        accuracy_m=accuracy,
        occurred_at=occurred_at,
        category=str(category),
        severity=str(severity),
        people_involved=int(people or 0),
        title=str(texts["title"]),
        description=str(texts["description"]),
        address=texts.get("address"),
        parties=parties,
        body_hash=body_hash(body),
    )


def _parse_time(value: Any, now: datetime, errors: dict[str, str]) -> datetime | None:
    if not isinstance(value, str):
        errors["occurred_at"] = _(
            "Required: a date and time, e.g. %(example)s.", example="2026-11-25T09:30:00+08:00"
        )
        return None
    try:
        # The shared parser: window, offset bounds, a bare time is China time; UTC after.
        parsed = bounds.parse_instant(value, required=True)
    except ValueError as exc:
        errors["occurred_at"] = str(exc)
        return None
    assert parsed is not None
    if parsed > now + FUTURE_SKEW:
        errors["occurred_at"] = _("This time is in the future. Check the phone's clock.")
        return None
    if parsed < now - MAX_AGE:
        errors["occurred_at"] = _("More than a year ago; early reports are for recent events.")
        return None
    return parsed


def _parse_parties(value: Any, errors: dict[str, str]) -> list[PartyInput]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors["parties"] = _("A list of parties.")
        return []
    if len(value) > MAX_PARTIES:
        errors["parties"] = _("At most %(n)d parties.", n=MAX_PARTIES)
        return []
    parties = []
    for i, item in enumerate(value):
        key = f"parties[{i}]"
        if not isinstance(item, dict):
            errors[key] = _("Each party is an object with a name.")
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 50:
            errors[f"{key}.name"] = _("Required, at most 50 characters.")
            continue
        id_number = _optional_text(item.get("id_number"))
        if id_number is not None and not ID_NUMBER.match(id_number):
            errors[f"{key}.id_number"] = _("An 18-digit resident ID number (the last may be X).")
            continue
        phone = _optional_text(item.get("phone"))
        if phone is not None and not PHONE.match(phone):
            errors[f"{key}.phone"] = _("A phone number of digits.")
            continue
        role = _optional_text(item.get("role"))
        if role is not None and len(role) > 30:
            errors[f"{key}.role"] = _("At most 30 characters.")
            continue
        parties.append(PartyInput(name.strip(), id_number and id_number.upper(), phone, role))
    return parties


def _optional_text(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()
