"""WGS-84 ↔ GCJ-02 ↔ BD-09 at the edges."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grid import crs


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[1] - b[1]) * 111_320
    dlon = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    return math.hypot(dlon, dlat)


def test_gcj02_offset_in_rizhao_is_about_half_a_kilometre() -> None:
    wgs = (119.5269, 35.4164)  # Rizhao city centre
    gcj = crs.wgs84_to_gcj02(*wgs)
    assert 300 < _metres(wgs, gcj) < 800


def test_published_reference_point_tiananmen() -> None:
    # Widely published pair for the same spot: WGS-84 (116.391305, 39.907238) is shown by
    # GCJ-02 maps at about (116.397545, 39.908628).
    lon, lat = crs.wgs84_to_gcj02(116.391305, 39.907238)
    assert lon == pytest.approx(116.397545, abs=2e-5)
    assert lat == pytest.approx(39.908628, abs=2e-5)


def test_outside_china_is_unchanged() -> None:
    assert crs.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)


rizhao = st.tuples(st.floats(118.4, 119.7), st.floats(35.0, 36.1))


@given(rizhao)
def test_round_trips_within_a_millimetre(point: tuple[float, float]) -> None:
    for name in ("gcj02", "bd09"):
        there = crs.from_wgs84(*point, name)
        back = crs.to_wgs84(*there, name)
        assert _metres(point, back) < 0.001


def test_unknown_crs_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="wgs84, gcj02, bd09"):
        crs.to_wgs84(119.5, 35.4, "utm50")
