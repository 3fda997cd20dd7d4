"""Configuration from the environment (no database: the engine connects lazily)."""

from __future__ import annotations

import pytest

from fieldapp import config


def test_no_base_map_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("TILE_URL", "TIANDITU_KEY", "TILE_CRS", "TILE_ATTRIBUTION"):
        monkeypatch.delenv(name, raising=False)
    settings = config.from_environment(tmp_path)
    assert settings["TILE_URL"] is None and settings["TILE_CRS"] == "wgs84"
    assert settings["HOTSPOT_METHODS"] == ("scan", "ebp")
    assert settings["HOTSPOT_OVER_BUDGET"] is False
    assert (tmp_path / "secret_key").exists()


def test_a_tianditu_key_makes_its_tiles_the_base_map(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv("TILE_URL", raising=False)
    monkeypatch.setenv("TIANDITU_KEY", "k123")
    settings = config.from_environment(tmp_path)
    assert "tianditu.gov.cn" in settings["TILE_URL"] and settings["TILE_URL"].endswith("tk=k123")
    assert "{z}" in settings["TILE_URL"] and "天地图" in settings["TILE_ATTRIBUTION"]
    monkeypatch.setenv("TILE_URL", "http://tiles.intranet/{z}/{x}/{y}.png")
    assert config.from_environment(tmp_path)["TILE_URL"].startswith("http://tiles.intranet")
