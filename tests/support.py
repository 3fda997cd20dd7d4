"""A small synthetic city for integration tests: a jittered lattice of quadrilateral cells, so
neighbouring cells share exact vertices and slanted edges (as real boundaries do)."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from grid.features import BoundaryFeature

ORIGIN = (119.40, 35.30)
STEP = 0.01  # degrees, ~1 km
COLUMNS, ROWS = 8, 6  # 48 cells
CITY, COUNTY = "991100", "991101"


def lattice(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xs = ORIGIN[0] + np.arange(COLUMNS + 1) * STEP
    ys = ORIGIN[1] + np.arange(ROWS + 1) * STEP
    grid = np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1)
    jitter = rng.uniform(-0.3, 0.3, grid.shape) * STEP
    jitter[0, :, 0] = jitter[-1, :, 0] = 0  # keep the outline straight on the sides
    jitter[:, 0, 1] = jitter[:, -1, 1] = 0
    return np.round(grid + jitter, 7)


def small_city(seed: int = 7) -> list[BoundaryFeature]:
    """1 city, 1 county, 2 townships (west/east), 12 villages (2×2 cells), 48 cells."""
    p = lattice(seed)
    cells: list[BoundaryFeature] = []
    by_village: dict[str, list[Polygon]] = {}
    village_parent: dict[str, str] = {}
    for i in range(COLUMNS):
        for j in range(ROWS):
            ring = [p[i, j], p[i + 1, j], p[i + 1, j + 1], p[i, j + 1], p[i, j]]
            poly = Polygon([tuple(v) for v in ring])
            township = f"{COUNTY}{1 + (i >= COLUMNS // 2):03d}"
            village = f"{township}{1 + (i % (COLUMNS // 2)) // 2 + 2 * (j // 2):03d}"
            code = f"{village}{1 + (i % 2) + 2 * (j % 2):03d}"
            cells.append(
                BoundaryFeature(
                    code,
                    f"测试网格{code[-6:]}",
                    "cell",
                    village,
                    MultiPolygon([poly]),
                    population=100 + i + j,
                )
            )
            by_village.setdefault(village, []).append(poly)
            village_parent[village] = township
    features = [
        BoundaryFeature(CITY, "测试市", "city", None, _union(sum(by_village.values(), []))),
        BoundaryFeature(COUNTY, "测试区", "county", CITY, _union(sum(by_village.values(), []))),
    ]
    for township in sorted(set(village_parent.values())):
        polys = [q for v, t in village_parent.items() if t == township for q in by_village[v]]
        features.append(
            BoundaryFeature(township, f"测试街道{township[-3:]}", "township", COUNTY, _union(polys))
        )
    for village in sorted(by_village):
        features.append(
            BoundaryFeature(
                village,
                f"测试社区{village[-3:]}",
                "village",
                village_parent[village],
                _union(by_village[village]),
            )
        )
    for f in features + cells:
        f.valid_from = date(2024, 1, 1)
    return features + cells


def _union(polys: list[Polygon]) -> MultiPolygon:
    merged = shapely.coverage_union_all(polys)
    return merged if isinstance(merged, MultiPolygon) else MultiPolygon([merged])


PASSWORD = "correct-horse-1"


def auth(people: dict[str, dict[str, object]], who: str) -> dict[str, str]:
    """The Authorization header of one of the `people` fixture's accounts."""
    return {"Authorization": f"Bearer {people[who]['token']}"}


def cell_centre(i: int = 0, j: int = 0) -> tuple[float, float]:
    """A point inside the lattice cell (i, j) (column, row)."""
    corners = lattice()[i : i + 2, j : j + 2].reshape(-1, 2)
    lon, lat = corners.mean(axis=0)
    return float(lon), float(lat)


def report_fields(who: str = "officer_a", **overrides: Any) -> dict[str, Any]:
    """A report's body as `who`'s phone sends it (an orange neighbours' dispute an hour ago, in
    the officer's first cell, a new id; `overrides` replace fields)."""
    lon, lat = cell_centre(0, 0) if who == "officer_a" else cell_centre(4, 0)
    return {
        "id": str(uuid.uuid4()),
        "lon": lon,
        "lat": lat,
        "category": "neighbours",
        "severity": "orange",
        "people_involved": 2,
        "title": "邻里纠纷",
        "description": "两户因排水发生争执。",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        **overrides,
    }


def file_via_api(
    client: Any, people: dict[str, dict[str, object]], who: str = "officer_a", **overrides: Any
) -> dict[str, Any]:
    """File a report through the API as `who`'s phone would (`report_fields`); returns the
    answer."""
    body = report_fields(who, **overrides)
    r = client.post("/api/v1/reports", json=body, headers=auth(people, who))
    assert r.status_code == 201, r.get_json()
    return dict(r.get_json())


def csrf_token(html: str) -> str:
    """The CSRF token of a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def sign_in_form(client: Any, username: str, password: str = PASSWORD) -> str:
    """Sign in through the CSRF-protected form, as a browser does; returns a CSRF token of the
    new session (signing in starts one) for later posts."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    r = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return csrf_token(client.get("/login").get_data(as_text=True))


def sign_in_cookie(client: Any, user_id: int) -> None:
    """Sign `client` in without the form: a server-side web session (fieldapp.services.
    websessions, in the test's transaction) and the cookie naming it. A cookie holding only a
    user_id is refused since sessions are recorded server-side (issue 15.8)."""
    from fieldapp.db import db
    from fieldapp.services import websessions

    with client.application.app_context():
        token = websessions.start(db.session, user_id, remote_addr=None, user_agent="pytest")
        db.session.commit()
    with client.session_transaction() as web:
        web["user_id"] = user_id
        web["sid"] = token


def save_screenshot(page: Any, name: str, full_page: bool = True) -> None:
    """A screenshot for the README, saved only when SCREENSHOT_DIR is set
    (`SCREENSHOT_DIR=docs/screenshots .venv/bin/python -m pytest tests/e2e`): an ordinary test
    run must leave the checkout's tracked files as they are."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=full_page)


def enrol_officer(
    session: Any, username: str, cell_code: str, display_name: str
) -> tuple[Any, str]:
    """An officer as the roster import leaves them (fieldapp.services.roster): a random
    one-time password that must be changed. Returns the user and that password."""
    from fieldapp.services import accounts, roster

    user = accounts.create_user(
        session,
        username=username,
        password=None,
        role="officer",
        display_name=display_name,
        cell_codes=[cell_code],
    )
    one_time = roster.one_time_password()
    user.password_hash = roster.hash_one_time(one_time)
    user.must_change_password = True
    session.flush()
    return user, one_time
