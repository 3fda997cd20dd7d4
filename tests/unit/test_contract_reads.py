"""The read-side models of the API contract (statistics, hotspots, map layers, exports):
their examples fit them, their vocabularies are the code's, and they refuse what the old
hand-written parsers refused, naming the field, in the request's language. No database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

import fieldapp
from fieldapp import stats as stats_rules
from fieldapp.contract import exports, hotspots, layers, stats
from fieldapp.contract.base import field_errors
from fieldapp.domain import SEVERITIES, Severity
from fieldapp.i18n import init_babel
from fieldapp.kpi import KPIS
from fieldapp.services import export_sources, map_layers
from fieldapp.services import hotspots as hotspot_service
from maps.classify import METHODS

ANSWERS: tuple[type[BaseModel], ...] = (
    stats.Rollup,
    stats.KpiTable,
    stats.Campaign,
    stats.KeyCase,
    hotspots.HotspotList,
    hotspots.HotspotAnalysis,
    hotspots.SuperviseResult,
    hotspots.Recompute,
    layers.Choropleth,
    layers.ReportPoints,
    layers.ReportCells,
    exports.ExportJob,
    exports.ExportList,
)
BODIES: tuple[type[BaseModel], ...] = (
    stats.KeyCaseInput,
    hotspots.SuperviseInput,
    exports.ExportRequest,
)


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask("fieldapp", root_path=str(Path(fieldapp.__file__).resolve().parent))
    app.config.update(LANGUAGES=("zh", "en"), BABEL_DEFAULT_LOCALE="zh")
    init_babel(app)
    return app


@pytest.fixture
def zh(app: Flask) -> Iterator[None]:
    with app.test_request_context("/api/v1/x", headers={"Accept-Language": "zh-CN"}):
        yield


def _examples(model: type[BaseModel]) -> list[Any]:
    named: dict[str, tuple[str, Any]] = getattr(model, "examples", {})
    assert named, model.__name__
    return [value for _summary, value in named.values()]


@pytest.mark.parametrize("model", ANSWERS + BODIES, ids=lambda m: m.__name__)
def test_every_example_fits_its_model_and_its_generated_schema(
    zh: None, model: type[BaseModel]
) -> None:
    schema = model.model_json_schema(by_alias=True)
    Draft202012Validator.check_schema(schema)
    for example in _examples(model):
        model.model_validate(example)
        errors = list(Draft202012Validator(schema).iter_errors(example))
        assert errors == [], (model.__name__, [e.message for e in errors])


@pytest.mark.parametrize(
    ("model", "broken"),
    [
        (stats.Rollup, {**stats.ROLLUP_EXAMPLE, "level": "planet"}),
        (stats.KpiTable, {**stats.KPI_TABLE_EXAMPLE, "rows": [{"code": "1"}]}),
        (stats.KeyCase, {**stats.KEY_CASE_EXAMPLE, "status": "lost"}),
        (hotspots.HotspotAlert, {**hotspots.EXAMPLE_ALERT, "method": "guess"}),
        (layers.ReportCells, {**layers.REPORT_CELLS_EXAMPLE, "total": -1}),
        (exports.ExportJob, {**exports.DONE_EXAMPLE, "status": "lost"}),
    ],
)
def test_the_answer_schemas_are_not_so_loose_that_anything_fits(
    model: type[BaseModel], broken: dict[str, Any]
) -> None:
    schema = model.model_json_schema(by_alias=True)
    assert list(Draft202012Validator(schema).iter_errors(broken))


def test_the_vocabularies_are_the_codes() -> None:
    assert get_args(stats.Level) == stats_rules.LEVELS
    assert get_args(stats.KpiLevel) == stats_rules.KPI_LEVELS
    assert get_args(stats.Breakdown) == stats_rules.BREAKDOWNS
    assert get_args(stats.Bucket) == stats_rules.BUCKETS
    assert get_args(stats.KpiKey) == tuple(k.key for k in KPIS)
    assert get_args(Severity) == SEVERITIES
    assert get_args(layers.MapLevel) == map_layers.MAP_LEVELS
    assert get_args(layers.Metric) == map_layers.METRICS
    assert get_args(layers.ClassMethod) == METHODS
    assert get_args(hotspots.Method) == hotspot_service.METHODS
    assert get_args(hotspots.AlertStatus) == hotspot_service.STATUSES
    assert get_args(hotspots.Analysis) == hotspot_service.ANALYSES
    assert get_args(exports.Kind) == tuple(export_sources.SOURCES)
    assert get_args(exports.ExportLevel) == export_sources.LEVELS
    assert {k: s.formats for k, s in export_sources.SOURCES.items()} == exports.FORMATS_BY_KIND


def _fields(model: type[BaseModel], data: Any, **kwargs: Any) -> dict[str, str]:
    """The refused fields as the error answer names them, with their messages."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data, **kwargs)
    return field_errors(caught.value)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"level": "street"}, "level"),
        ({"by": "colour"}, "by"),
        ({"by": "period"}, "from"),
        ({"by": "period", "from": "2033-05-01"}, "to"),
        ({"bucket": "hour"}, "bucket"),
        ({"from": "2033-13-01"}, "from"),
        ({"from": "2033-05-02", "to": "2033-05-01"}, "to"),
        ({"from": "2000-01-01", "to": "2020-01-01"}, "to"),
        ({"within": "1" * 33}, "within"),
        ({"from": "9999-12-31"}, "from"),
    ],
)
def test_rollup_queries_are_refused_naming_the_field(
    zh: None, query: dict[str, str], field: str
) -> None:
    assert field in _fields(stats.RollupQuery, query)


def test_a_blank_query_value_is_its_absence(zh: None) -> None:
    # The foundation's rule for every query (a form's field left blank), and the document's.
    query = stats.RollupQuery.model_validate({"level": "", "from": "", "by": ""})
    assert (query.level, query.date_from, query.by) == ("township", None, None)
    listed = stats.RollupQuery.model_validate({"category": "a, b,,a", "severity": "red"})
    assert listed.categories == ("a", "b") and listed.severities == ("red",)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "period"),
        ({"period": "2031-13"}, "period"),
        ({"period": "2031-03", "level": "village"}, "level"),
        ({"from": "2031-03-10", "to": "2031-03-01"}, "to"),
        ({"from": "yesterday", "to": "2031-03-01"}, "from"),
    ],
)
def test_kpi_queries_are_refused_naming_the_field(
    zh: None, query: dict[str, str], field: str
) -> None:
    assert field in _fields(stats.KpiQuery, query)


def test_a_kpi_query_names_the_period_it_asks_for(zh: None) -> None:
    assert stats.KpiQuery.model_validate({"period": "2026-Q3"}).as_period().label == "2026-Q3"
    ranged = stats.KpiQuery.model_validate({"from": "2031-03-01", "to": "2031-03-10"})
    assert ranged.as_period().days == 10
    # A wrong day is reported as wrong, not also as "period required".
    assert set(_fields(stats.KpiQuery, {"from": "x", "to": "2031-03-01"})) == {"from"}


def test_messages_are_in_the_request_language(app: Flask) -> None:
    with app.test_request_context("/api/v1/x", headers={"Accept-Language": "zh-CN"}):
        assert "日期" in _fields(stats.RollupQuery, {"from": "x"})["from"]
    with app.test_request_context("/api/v1/x", headers={"Accept-Language": "en"}):
        assert "A date like" in _fields(stats.RollupQuery, {"from": "x"})["from"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"leader": "", "target_date": "2030-01-01"}, "leader"),
        ({"leader": "   ", "target_date": "2030-01-01"}, "leader"),
        ({"leader": "x" * 51, "target_date": "2030-01-01"}, "leader"),
        ({"leader": "王", "target_date": "next week"}, "target_date"),
        ({"leader": "王", "target_date": "1999-12-31"}, "target_date"),
        ({"leader": "王", "target_date": 20300101}, "target_date"),
        ({"leader": "王", "target_date": "2030-01-01", "colour": 1}, "colour"),
    ],
)
def test_key_case_bodies_are_refused_naming_the_field(
    zh: None, body: dict[str, Any], field: str
) -> None:
    assert field in _fields(stats.KeyCaseInput, body)


def test_a_key_case_leader_is_stripped(zh: None) -> None:
    parsed = stats.KeyCaseInput.model_validate(stats.KEY_CASE_INPUT_EXAMPLE | {"leader": " 王 "})
    assert parsed.leader == "王" and parsed.target_date.isoformat() == "2026-12-31"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "缺少期限"}, "due_at"),
        ({"reason": "x", "due_at": "9999-12-31T20:00:00Z"}, "due_at"),
        ({"reason": "x", "due_at": "2026-12-20T18:00:00+23:00"}, "due_at"),
        ({"reason": "x", "due_at": True}, "due_at"),
        ({"reason": " ", "due_at": "2026-12-20T18:00:00+08:00"}, "reason"),
        ({"reason": "x" * 2001, "due_at": "2026-12-20T18:00:00+08:00"}, "reason"),
    ],
)
def test_supervision_bodies_are_refused_naming_the_field(
    zh: None, body: dict[str, Any], field: str
) -> None:
    assert field in _fields(hotspots.SuperviseInput, body)


def test_a_bare_due_time_is_china_time(zh: None) -> None:
    parsed = hotspots.SuperviseInput.model_validate({"reason": "x", "due_at": "2026-12-20T18:00"})
    assert parsed.due_at.isoformat() == "2026-12-20T10:00:00+00:00"


@pytest.mark.parametrize(
    ("model", "query", "field"),
    [
        (layers.ChoroplethQuery, {"level": "province"}, "level"),
        (layers.ChoroplethQuery, {"classes": "natural"}, "classes"),
        (layers.ChoroplethQuery, {"metric": "density"}, "metric"),
        (layers.ChoroplethQuery, {"from": "yesterday"}, "from"),
        (layers.ChoroplethQuery, {"from": "2026-02-02", "to": "2026-02-01"}, "to"),
        (layers.ChoroplethQuery, {"category": "c" * 33}, "category"),
        (layers.ReportPointsQuery, {"bbox": "1,2,3"}, "bbox"),
        (layers.ReportPointsQuery, {"bbox": "3,2,1,4"}, "bbox"),
        (layers.ReportPointsQuery, {"bbox": "1,2,nan,4"}, "bbox"),
        (layers.TileQuery, {"display_crs": "bd09"}, "display_crs"),
        (hotspots.HotspotListQuery, {"status": "bogus"}, "status"),
    ],
)
def test_layer_and_hotspot_queries_are_refused_naming_the_field(
    zh: None, model: type[BaseModel], query: dict[str, str], field: str
) -> None:
    assert field in _fields(model, query)


def test_a_bbox_is_four_numbers_in_order(zh: None) -> None:
    query = layers.ReportPointsQuery.model_validate({"bbox": "119.4,35.3,119.6,35.5"})
    assert query.box() == (119.4, 35.3, 119.6, 35.5)
    assert layers.ReportPointsQuery.model_validate({}).box() is None


COORDINATOR = exports.ExportContext(
    viewer_level="township",
    category_exists=lambda code: code == "neighbourhood",
    area_exists=lambda code: code.startswith("371102001"),
)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "everything", "format": "pdf"}, {"kind", "format"}),
        ({"kind": "cases", "format": "geojson"}, {"format"}),
        ({"kind": "cases", "format": "csv", "colour": "red"}, {"colour"}),
        ({"kind": "cases", "format": "csv", "language": "fr"}, {"language"}),
        ({"kind": "cases", "format": "csv", "level": "village"}, {"level"}),
        ({"kind": "kpis", "format": "csv", "level": "county"}, {"level"}),
        ({"kind": "kpis", "format": "csv", "level": "planet"}, {"level"}),
        ({"kind": "assessment", "format": "csv"}, {"level"}),
        ({"kind": "assessment", "format": "geojson", "level": "village"}, {"format", "level"}),
        (
            {"kind": "cases", "format": "csv", "filters": {"from": "26/11/2026", "to": "x"}},
            {"filters.from", "filters.to"},
        ),
        (
            {
                "kind": "cases",
                "format": "csv",
                "filters": {"from": "2026-11-30", "to": "2026-11-01"},
            },
            {"filters.to"},
        ),
        (
            {
                "kind": "cases",
                "format": "csv",
                "filters": {"severity": "purple", "status": "lost", "category": "aliens"},
            },
            {"filters.severity", "filters.status", "filters.category"},
        ),
        ({"kind": "cases", "format": "csv", "filters": {"area": "000000"}}, {"filters.area"}),
        ({"kind": "cases", "format": "csv", "filters": {"page": 2}}, {"filters.page"}),
        ({"kind": "cases", "format": "csv", "filters": ["from"]}, {"filters"}),
        ({"kind": "cases", "format": "csv", "filters": {"overdue": 1}}, {"filters.overdue"}),
        ({"kind": "cases", "format": "csv", "filters": {"from": ""}}, {"filters.from"}),
    ],
)
def test_export_requests_name_every_wrong_field_at_once(
    zh: None, body: dict[str, Any], fields: set[str]
) -> None:
    found = _fields(exports.ExportRequest, body, context={"export": COORDINATOR})
    assert set(found) == fields and all(found.values())


def test_an_export_request_fills_in_its_defaults(zh: None) -> None:
    parsed = exports.ExportRequest.model_validate(
        {"kind": "kpis", "format": "csv", "filters": {"key": True}},
        context={"export": COORDINATOR},
    )
    assert (parsed.language, parsed.level) == ("zh", "township")
    assert parsed.filters is not None and parsed.filters.date_from is None
    assert not parsed.filters.overdue and parsed.filters.key
    for example in exports.EXPORT_REQUEST_EXAMPLES.values():
        exports.ExportRequest.model_validate(example["value"])
