"""Locating a point: the cell and its chain, or a clear "outside the city" answer with the
nearest cell and how far it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from grid import queries


def locate_point(session: Session, lon: float, lat: float) -> dict[str, Any]:
    """The JSON-ready answer shared by `GET /api/v1/locate` and `fieldapp geo locate`."""
    location = queries.locate(session, lon, lat)
    answer: dict[str, Any] = {"lon": lon, "lat": lat}
    if location is not None:
        answer["found"] = True
        answer.update(location.as_dict())
        return answer
    answer["found"] = False
    answer["message"] = "outside_city"
    nearest = queries.nearest_cell(session, lon, lat)
    if nearest is not None:
        nearest_location, distance_m = nearest
        answer["nearest"] = {**nearest_location.as_dict(), "distance_m": round(distance_m, 1)}
    return answer
