"""Photos of reports: checked from their bytes, stored with the report, thumbnailed later by
a worker through the outbox."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldapp import imaging
from fieldapp.models import Photo, User
from fieldapp.services import audit, outbox, reports
from fieldapp.services.errors import Forbidden, InvalidInput, NotFound

THUMBNAIL_TASK = "workers.tasks.make_thumbnail"
MAX_PHOTOS_PER_REPORT = 12

_REJECTION_MESSAGES = {
    "too_large": lambda: _("The photo is too large. Send a smaller photo."),
    "empty": lambda: _("The file is empty."),
    "not_an_image": lambda: _("This file is not a photo (JPEG, PNG or WebP)."),
    "unsupported_type": lambda: _(
        "This image type is not supported. Use JPEG, PNG or WebP (on an iPhone: camera "
        "format “Most Compatible”)."
    ),
    "corrupt": lambda: _("The photo is damaged or incomplete. Take or send it again."),
    "too_many_pixels": lambda: _("The photo has too many pixels. Send a smaller photo."),
    "bad_proportions": lambda: _(
        "The photo is far narrower than a photo of a scene. Send an ordinary photo."
    ),
}


@dataclass(frozen=True)
class Upload:
    photo: dict[str, Any]
    created: bool
    outbox_ids: list[int]


def add_photo(
    session: Session,
    uploader: User,
    report_id: uuid.UUID,
    data: bytes,
    *,
    max_bytes: int,
    remote_addr: str | None = None,
) -> Upload:
    """Attach a photo to a report the uploader filed. The same bytes twice attach once."""
    report = reports.get_report(session, uploader, report_id)
    if report.officer_id != uploader.id:
        raise Forbidden(_("Only the officer who filed the report adds photos to it."))
    try:
        info = imaging.inspect_image(data, max_bytes=max_bytes)
    except imaging.ImageRejected as rejected:
        translate = _REJECTION_MESSAGES.get(rejected.code)
        message = translate() if translate else str(rejected)
        raise InvalidInput(message, {"photo": message}, code=rejected.code) from None
    digest = hashlib.sha256(data).hexdigest()
    existing = session.execute(
        select(Photo).where(Photo.report_id == report.id, Photo.sha256 == digest)
    ).scalar_one_or_none()
    if existing is not None:
        return Upload(_json(existing), created=False, outbox_ids=[])
    count = len(session.execute(select(Photo.id).where(Photo.report_id == report.id)).all())
    if count >= MAX_PHOTOS_PER_REPORT:
        message = _("At most %(n)d photos per report.", n=MAX_PHOTOS_PER_REPORT)
        raise InvalidInput(message, {"photo": message}, code="too_many_photos")
    photo = Photo(
        id=uuid.uuid4(),
        report_id=report.id,
        content_type=info.content_type,
        size_bytes=len(data),
        sha256=digest,
        data=data,
        width=info.width,
        height=info.height,
        exif_lon=info.exif_lon,
        exif_lat=info.exif_lat,
        exif_taken_at=info.exif_taken_at,
        uploaded_by=uploader.id,
    )
    session.add(photo)
    session.flush()
    message_row = outbox.enqueue(session, THUMBNAIL_TASK, {"photo_id": str(photo.id)})
    audit.record(
        session,
        actor_id=uploader.id,
        action="photo.add",
        object_type="report",
        object_id=report.id,
        remote_addr=remote_addr,
        details={"photo": str(photo.id), "bytes": len(data)},
    )
    return Upload(_json(photo), created=True, outbox_ids=[message_row.id])


def get_photo(session: Session, viewer: User, report_id: uuid.UUID, photo_id: uuid.UUID) -> Photo:
    reports.get_report(session, viewer, report_id)  # scope check
    photo = session.execute(
        select(Photo).where(Photo.id == photo_id, Photo.report_id == report_id)
    ).scalar_one_or_none()
    if photo is None:
        raise NotFound(_("No such photo."))
    return photo


def make_thumbnail(session: Session, photo_id: uuid.UUID) -> bool:
    """Idempotent: True when a thumbnail was made now, False when it existed or the photo is
    gone."""
    photo = session.get(Photo, photo_id)
    if photo is None or photo.thumbnail is not None:
        return False
    photo.thumbnail = imaging.make_thumbnail(photo.data)
    return True


def _json(photo: Photo) -> dict[str, Any]:
    base = f"/api/v1/reports/{photo.report_id}/photos/{photo.id}"
    return {
        "id": str(photo.id),
        "url": base,
        "thumbnail_url": f"{base}/thumbnail" if photo.thumbnail is not None else None,
        "content_type": photo.content_type,
        "width": photo.width,
        "height": photo.height,
        "exif_lon": photo.exif_lon,
        "exif_lat": photo.exif_lat,
        "exif_taken_at": photo.exif_taken_at.isoformat() if photo.exif_taken_at else None,
    }
