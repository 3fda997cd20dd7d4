"""Masking personal data for roles that do not handle the case (pure functions), and the
request hook that commits the audit of unmasked displays."""

from __future__ import annotations

from flask import Flask, Response, g


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the family name stays, so a supervisor can still tell
    parties apart in one case."""
    if len(name) <= 1:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(id_number: str | None) -> str | None:
    """371102199001011234 → 371102********1234 (region and last four kept, birth date hidden)."""
    if not id_number:
        return id_number
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678, the way Chinese services print phone numbers."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def init_app(app: Flask) -> None:
    """Commit the audit rows of unmasked personal data shown during a request
    (fieldapp.services.party_data.audit_unmasked_display): a page that only reads commits
    nothing else, and the record of who saw what must not be rolled back with it."""

    @app.after_request
    def _commit_reveal_audit(response: Response) -> Response:
        if g.pop("fieldapp_reveal_audited", False) and response.status_code < 400:
            from fieldapp.db import db

            db.session.commit()
        return response
