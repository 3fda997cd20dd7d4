"""Loading the demo city: real county/township names and codes, synthetic villages and cells
(labelled 示例), departments, and one account per officer and coordinator plus city staff and
an admin. Accounts get credentials from the field-reporting work; here they are the roster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fieldapp.crypto import keyring_outside_app
from fieldapp.demo.city import build_demo_city
from fieldapp.models import Department
from fieldapp.services.accounts import hash_password
from fieldapp.services.party_data import stored_user_phone
from grid import queries
from grid.importer import import_boundaries
from grid.models import Cell, OfficerCell, User

# The documented password of every demo account (README). Hashed once and shared: hashing
# 4,644 Argon2 passwords one by one would take minutes, and these accounts guard demo data.
DEMO_PASSWORD = "rizhao-demo"


def load_demo_city(
    session: Session, *, seed: int = 1, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Build and import the demo city in the caller's transaction; returns a summary."""
    say = progress or (lambda _m: None)
    say(f"building the demo city (seed {seed})")
    city = build_demo_city(seed=seed, progress=say)
    summary = import_boundaries(session, city.features, source=f"demo seed={seed}", progress=say)

    area_ids = queries.area_ids_by_code(session)
    say(f"adding {len(city.departments)} departments")
    queries.upsert_departments(
        session,
        (
            {"code": d.code, "name": d.name, "level": d.level, "area_id": area_ids[d.area_code]}
            for d in city.departments
        ),
    )

    existing_users = set(session.execute(select(User.username)).scalars())
    city_code = next(f.code for f in city.features if f.level == "city")
    rows: list[dict[str, Any]] = []
    for o in city.officers:
        rows.append(
            {
                "username": o.username,
                "display_name": o.display_name,
                "role": "officer",
                "phone": o.phone,
                "area_id": None,
            }
        )
    for c in city.coordinators:
        rows.append(
            {
                "username": c.username,
                "display_name": c.display_name,
                "role": "coordinator",
                "area_id": area_ids[c.township_code],
            }
        )
    rows.append(
        {
            "username": "city",
            "display_name": "市级工作人员（示例）",
            "role": "city",
            "area_id": area_ids[city_code],
        }
    )
    for county in (f for f in city.features if f.level == "county"):
        rows.append(
            {
                "username": f"county_{county.code}",
                "display_name": f"{county.name}工作人员（示例）",
                "role": "county",
                "area_id": area_ids[county.code],
            }
        )
    rows.append(
        {
            "username": "admin",
            "display_name": "系统管理员",
            "role": "admin",
            "area_id": area_ids[city_code],
        }
    )
    new_rows = [r for r in rows if r["username"] not in existing_users]
    say(f"adding {len(new_rows):,} accounts (demo password: {DEMO_PASSWORD})")
    if new_rows:
        demo_hash = hash_password(DEMO_PASSWORD)
        # Officers' phones are personal data: stored encrypted like parties' (issue #15).
        ring = keyring_outside_app()
        for row in new_rows:
            row["phone"] = stored_user_phone(ring, row.get("phone"))
        session.execute(
            insert(User),
            [{"phone": None, "password_hash": demo_hash, "active": True, **r} for r in new_rows],
        )

    user_ids = dict(session.execute(select(User.username, User.id)).all())
    cell_ids = dict(session.execute(select(Cell.code, Cell.id)).all())
    assigned = set(session.execute(select(OfficerCell.user_id, OfficerCell.cell_id)))
    links = [
        {"user_id": user_ids[o.username], "cell_id": cell_ids[code]}
        for o in city.officers
        for code in o.cell_codes
        if (user_ids[o.username], cell_ids[code]) not in assigned
    ]
    if links:
        session.execute(insert(OfficerCell), links)
    return {
        "boundaries": summary.as_dict(),
        "counts": queries.level_counts(session),
        "departments": len(city.departments),
        "accounts": len(rows),
    }


def ensure_department_handlers(session: Session) -> dict[int, int]:
    """department id → the user who handles its cases (the lowest active `department` user),
    creating `dept_<department code>` with the demo password where a department has none."""

    def current() -> dict[int, int]:
        return {
            int(d or 0): int(u)
            for d, u in session.execute(
                select(User.department_id, func.min(User.id))
                .where(User.role == "department", User.active, User.department_id.is_not(None))
                .group_by(User.department_id)
            ).all()
        }

    found = current()
    missing = [
        d
        for d in session.execute(select(Department).order_by(Department.code)).scalars()
        if d.id not in found
    ]
    if missing:
        demo_hash = hash_password(DEMO_PASSWORD)  # once: Argon2 is slow on purpose
        session.execute(
            pg_insert(User)
            .values(
                [
                    {
                        "username": f"dept_{d.code}",
                        "display_name": f"{d.name}经办人（示例）",
                        "role": "department",
                        "department_id": d.id,
                        "password_hash": demo_hash,
                        "active": True,
                    }
                    for d in missing
                ]
            )
            # A username already taken (say, a deactivated handler) is left alone: that
            # department's steps then have no actor.
            .on_conflict_do_nothing(index_elements=["username"])
        )
        found = current()
    return found
