"""Reading and writing boundary files (DESIGN §4).

A boundary file is a GeoJSON FeatureCollection (RFC 7946, WGS-84 lon/lat) or an ESRI Shapefile
(a ``.shp`` with its ``.dbf``, optionally zipped) with one feature per area or cell and the
properties ``code``, ``name``, ``level``, ``parent_code``, optional ``population``,
``households``, ``valid_from`` and ``previous_code``.

`read_boundaries` turns such a file into `BoundaryFeature`s plus a list of `Problem`s. It only
raises `BoundaryFileError` when nothing useful can be read at all (not JSON, not a
FeatureCollection, a Shapefile without its .dbf, ...): everything wrong with single features is
collected so that a person fixing the file sees all of it at once. Topology (overlaps, gaps,
hierarchy) is checked separately by `grid.validation.validate`.

We parse ring coordinates ourselves before handing them to shapely, because shapely silently
closes an unclosed ring and refuses a ring with too few points with an exception that does not
say which feature it was — both are common hand-editing mistakes that deserve a precise message.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import shapefile  # pyshp
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from grid.features import BoundaryFeature, Problem

__all__ = [
    "BoundaryFileError",
    "GEOJSON_SUFFIXES",
    "features_to_geojson",
    "read_boundaries",
    "write_geojson",
]

GEOJSON_SUFFIXES: tuple[str, ...] = (".geojson", ".json")

Point = tuple[float, float]
Ring = list[Point]


class BoundaryFileError(ValueError):
    """The boundary file cannot be read at all; the message says where and what to fix."""


# --------------------------------------------------------------------------------------------
# Property names. DBF field names are limited to 10 characters, so a Shapefile exported by
# GDAL/ArcGIS from our GeoJSON carries "parent_cod" and "previous_c"; ArcGIS also upper-cases
# names. We therefore match names case-insensitively and accept those truncations.
_PROPERTY_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code",),
    "name": ("name",),
    "level": ("level",),
    "parent_code": ("parent_code", "parent_cod", "parent"),
    "population": ("population",),
    "households": ("households",),
    "valid_from": ("valid_from",),
    "previous_code": ("previous_code", "previous_c", "prev_code"),
    "synthetic": ("synthetic",),
}

# Chinese level names as they appear in real exports; mapped so that such files import as-is.
_LEVEL_ALIASES: dict[str, str] = {
    "市": "city",
    "区": "county",
    "县": "county",
    "区县": "county",
    "县区": "county",
    "乡镇": "township",
    "乡": "township",
    "镇": "township",
    "街道": "township",
    "村": "village",
    "社区": "village",
    "村社区": "village",
    "网格": "cell",
    "grid": "cell",
}

_WGS84_LIKE_EPSG = {"4326", "4490"}  # WGS-84 and CGCS2000 (equal to within centimetres here)
_REPROJECT_HINT = (
    "reproject it to WGS-84 longitude/latitude (EPSG:4326), e.g. "
    "`ogr2ogr -t_srs EPSG:4326 out.geojson in.shp`, and import again"
)


# --------------------------------------------------------------------------------------------
# Public API


def read_boundaries(path: str | os.PathLike[str]) -> tuple[list[BoundaryFeature], list[Problem]]:
    """Read a GeoJSON (``.geojson``/``.json``), Shapefile (``.shp``) or zipped file.

    Returns the features that could be read and every problem found while reading. A feature
    with fixable problems (an unclosed ring, a bad population value) is still returned, so the
    validator can check the rest of the set; a feature without a code or without any usable
    geometry is left out. Raises `BoundaryFileError` when the file as a whole is unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise BoundaryFileError(f"{p}: file not found")
    suffix = p.suffix.lower()
    if suffix in GEOJSON_SUFFIXES:
        return _read_geojson(p.read_bytes(), p.name)
    if suffix == ".shp":
        return _read_shapefile(_ShapefileFiles.from_directory(p))
    if suffix == ".zip":
        return _read_zip(p)
    raise BoundaryFileError(
        f"{p.name}: unsupported file type {suffix or '(no extension)'!r}; use GeoJSON "
        "(.geojson or .json), a Shapefile (.shp next to its .dbf) or a .zip holding one Shapefile"
    )


def features_to_geojson(features: Iterable[BoundaryFeature]) -> dict[str, Any]:
    """Build an RFC 7946 FeatureCollection dict (exterior rings counter-clockwise)."""
    out: list[dict[str, Any]] = []
    for f in features:
        props: dict[str, Any] = {}
        # Extra properties first so that they can never shadow the core attributes.
        props.update(f.extra)
        props.update(
            {"code": f.code, "name": f.name, "level": f.level, "parent_code": f.parent_code}
        )
        if f.population is not None:
            props["population"] = f.population
        if f.households is not None:
            props["households"] = f.households
        if f.valid_from is not None:
            props["valid_from"] = f.valid_from.isoformat()
        if f.previous_code is not None:
            props["previous_code"] = f.previous_code
        if f.synthetic:
            props["synthetic"] = True
        geometry = shapely.orient_polygons(f.geometry, exterior_cw=False)
        out.append({"type": "Feature", "properties": props, "geometry": geometry.__geo_interface__})
    return {"type": "FeatureCollection", "features": out}


def write_geojson(features: Iterable[BoundaryFeature], path: str | os.PathLike[str]) -> None:
    """Write features as a UTF-8 GeoJSON FeatureCollection that `read_boundaries` reads back."""
    doc = features_to_geojson(features)
    with open(path, "w", encoding="utf-8") as fh:
        # ensure_ascii=False keeps Chinese names readable for the people who edit these files.
        json.dump(doc, fh, ensure_ascii=False, default=_json_default)
        fh.write("\n")


def _json_default(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to GeoJSON")


# --------------------------------------------------------------------------------------------
# GeoJSON


def _read_geojson(data: bytes, label: str) -> tuple[list[BoundaryFeature], list[Problem]]:
    try:
        # utf-8-sig: files saved by Windows tools often start with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BoundaryFileError(
            f"{label}: not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r}); "
            "GeoJSON must be saved as UTF-8"
        ) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoundaryFileError(
            f"{label}: not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "look for a missing comma, quote or bracket at or just before that spot"
        ) from exc
    if not isinstance(doc, dict):
        raise BoundaryFileError(
            f"{label}: expected a GeoJSON FeatureCollection object, found a JSON "
            f"{type(doc).__name__}"
        )
    if doc.get("type") != "FeatureCollection":
        found = doc.get("type")
        hint = ""
        if found == "Feature":
            hint = '; wrap it as {"type": "FeatureCollection", "features": [ ... ]}'
        raise BoundaryFileError(
            f'{label}: expected "type": "FeatureCollection", found {found!r}{hint}'
        )
    raw_features = doc.get("features")
    if not isinstance(raw_features, list):
        raise BoundaryFileError(f'{label}: the FeatureCollection has no "features" list')

    problems: list[Problem] = []
    if "crs" in doc:
        problem = _check_geojson_crs(doc["crs"], label)
        if problem is not None:
            problems.append(problem)

    features: list[BoundaryFeature] = []
    for index, raw in enumerate(raw_features):
        where = f"feature #{index + 1}"
        if not isinstance(raw, dict) or raw.get("type") != "Feature":
            problems.append(
                Problem("read", "", f'{where} is not a GeoJSON Feature ("type": "Feature")')
            )
            continue
        props = raw.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            problems.append(Problem("read", "", f'{where}: "properties" must be an object'))
            continue
        code = _code_of(props, where, problems)
        label_with_code = f"{where} ({code})" if code else where
        geometry = _geometry_from_geojson(
            raw.get("geometry"), code or "", label_with_code, problems
        )
        feature = _feature_from_properties(props, geometry, index, code, where, problems)
        if feature is not None:
            features.append(feature)
    return features, problems


def _check_geojson_crs(crs: object, label: str) -> Problem | None:
    """RFC 7946 dropped the "crs" member, but older exporters still write one; we accept it
    only when it names WGS-84 (or CGCS2000), since anything else means the coordinates are not
    lon/lat degrees and every later check would be meaningless."""
    name: str | None = None
    if isinstance(crs, dict):
        props = crs.get("properties")
        if crs.get("type") == "name" and isinstance(props, dict):
            value = props.get("name")
            name = value if isinstance(value, str) else None
        elif crs.get("type") == "link":
            return Problem(
                "crs",
                "",
                f"{label}: the coordinate system is given as a link, which cannot be checked; "
                f'remove the "crs" member if the file is WGS-84, otherwise {_REPROJECT_HINT}',
            )
    elif crs is None:
        return None
    if name is None:
        return Problem(
            "crs",
            "",
            f'{label}: the "crs" member is not understood; remove it if the file is WGS-84, '
            f"otherwise {_REPROJECT_HINT}",
        )
    upper = name.strip().upper()
    if upper.endswith("CRS84"):
        return None
    match = re.search(r"(\d+)\s*$", upper)
    if match and match.group(1) in _WGS84_LIKE_EPSG and "EPSG" in upper:
        return None
    return Problem(
        "crs",
        "",
        f"{label}: declares coordinate system {name!r}, not WGS-84 longitude/latitude; "
        f"{_REPROJECT_HINT}",
    )


def _geometry_from_geojson(
    raw: object, code: str, where: str, problems: list[Problem]
) -> BaseGeometry | None:
    if raw is None:
        problems.append(Problem("bad_geometry", code, f"{where} has no geometry"))
        return None
    if not isinstance(raw, dict):
        problems.append(Problem("bad_geometry", code, f'{where}: "geometry" must be an object'))
        return None
    gtype = raw.get("type")
    coords = raw.get("coordinates")
    if gtype == "Polygon":
        polygons_raw: object = [coords]
    elif gtype == "MultiPolygon":
        polygons_raw = coords
    else:
        problems.append(
            Problem(
                "bad_geometry",
                code,
                f"{where} is a {gtype or 'geometry without a type'}; boundaries must be "
                "Polygon or MultiPolygon",
            )
        )
        return None
    if not isinstance(polygons_raw, list) or not all(isinstance(p, list) for p in polygons_raw):
        problems.append(
            Problem("bad_geometry", code, f"{where}: malformed {gtype} coordinates (not arrays)")
        )
        return None

    polygons: list[list[Ring]] = []
    reported = len(problems)
    for poly_no, rings_raw in enumerate(polygons_raw):
        rings: list[Ring] = []
        for ring_no, ring_raw in enumerate(rings_raw):
            ring_where = _ring_where(where, gtype == "MultiPolygon", poly_no, ring_no)
            points = _parse_positions(ring_raw, code, ring_where, problems)
            if points is None:
                if ring_no == 0:
                    break  # without its exterior ring the whole polygon is unusable
                continue
            ring = _check_ring(points, code, ring_where, problems)
            if ring is None:
                if ring_no == 0:
                    break
                continue
            rings.append(ring)
        else:
            if rings:
                polygons.append(rings)
    if not polygons and len(problems) == reported:
        problems.append(Problem("bad_geometry", code, f"{where}: the {gtype} has no coordinates"))
    return _build_geometry(polygons, code, where, problems)


def _ring_where(where: str, multi: bool, poly_no: int, ring_no: int) -> str:
    ring = "outer ring" if ring_no == 0 else f"hole #{ring_no}"
    return f"{where}, polygon #{poly_no + 1} {ring}" if multi else f"{where}, {ring}"


def _parse_positions(
    raw: object, code: str, where: str, problems: list[Problem]
) -> list[Point] | None:
    if not isinstance(raw, list):
        problems.append(Problem("bad_geometry", code, f"{where}: a ring must be an array"))
        return None
    points: list[Point] = []
    for i, pos in enumerate(raw):
        if (
            not isinstance(pos, list | tuple)
            or len(pos) < 2
            or not all(_is_number(v) for v in pos[:2])
            or not all(math.isfinite(float(v)) for v in pos[:2])
        ):
            problems.append(
                Problem(
                    "bad_geometry",
                    code,
                    f"{where}: position #{i + 1} is {pos!r}, expected [longitude, latitude]",
                )
            )
            return None
        # Only x, y: an elevation adds nothing to a boundary and would break equality tests.
        points.append((float(pos[0]), float(pos[1])))
    return points


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_ring(points: list[Point], code: str, where: str, problems: list[Problem]) -> Ring | None:
    """Report an unclosed ring or one with too few points; return a closed ring or None."""
    if not points:
        problems.append(Problem("too_few_points", code, f"{where} has no points"))
        return None
    closed = points[0] == points[-1]
    ring = list(points) if closed else [*points, points[0]]
    distinct = len({p for p in ring})
    if not closed:
        problems.append(
            Problem(
                "unclosed_ring",
                code,
                f"{where} is not closed: it starts at {_fmt_point(points[0])} but ends at "
                f"{_fmt_point(points[-1])}; repeat the first point at the end",
                points[0],
            )
        )
    if len(ring) < 4 or distinct < 3:
        problems.append(
            Problem(
                "too_few_points",
                code,
                f"{where} has only {distinct} distinct point(s); a ring needs at least 3 "
                "corners plus the closing point (4 positions)",
                points[0],
            )
        )
        return None
    return ring


def _build_geometry(
    polygons: list[list[Ring]], code: str, where: str, problems: list[Problem]
) -> BaseGeometry | None:
    if not polygons:
        return None
    try:
        shapes = [Polygon(rings[0], rings[1:]) for rings in polygons]
    except (ValueError, shapely.errors.GEOSException) as exc:
        problems.append(Problem("bad_geometry", code, f"{where}: {exc}"))
        return None
    geometry: BaseGeometry = shapes[0] if len(shapes) == 1 else MultiPolygon(shapes)
    # One orientation whatever the source (Shapefile rings are clockwise, GeoJSON counter-
    # clockwise), so the same boundary read from either format compares equal.
    return shapely.orient_polygons(geometry, exterior_cw=False)


# --------------------------------------------------------------------------------------------
# Properties (shared by both formats)


def _lookup(props: Mapping[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """Split properties into the canonical ones (by alias) and the rest."""
    lowered = {str(k).strip().lower(): k for k in props}
    found: dict[str, object] = {}
    used: set[object] = set()
    for canonical, aliases in _PROPERTY_ALIASES.items():
        for alias in aliases:
            if alias in lowered:
                key = lowered[alias]
                found[canonical] = props[key]
                used.add(key)
                break
    extra = {str(k): v for k, v in props.items() if k not in used}
    return found, extra


def _code_text(value: object) -> str | None:
    """Codes are text, but spreadsheets and DBF numeric fields turn them into numbers."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    return text or None


def _code_of(props: Mapping[str, object], where: str, problems: list[Problem]) -> str | None:
    found, _ = _lookup(props)
    raw = found.get("code")
    code = _code_text(raw)
    if code is None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            problems.append(Problem("missing_property", "", f'{where} has no "code"'))
        else:
            problems.append(
                Problem("bad_property", "", f'{where}: "code" {raw!r} is not a valid code')
            )
    return code


def _feature_from_properties(
    props: Mapping[str, object],
    geometry: BaseGeometry | None,
    index: int,
    code: str | None,
    where: str,
    problems: list[Problem],
) -> BoundaryFeature | None:
    if code is None or geometry is None:
        return None  # already reported: nothing to import without a code and a shape
    found, extra = _lookup(props)
    location = _near(geometry)
    label = f"{where} ({code})"

    def text(name: str, required: bool) -> str | None:
        raw = found.get(name)
        value = _code_text(raw) if not isinstance(raw, str) else (raw.strip() or None)
        if value is None and required:
            problems.append(Problem("missing_property", code, f'{label} has no "{name}"', location))
        return value

    name = text("name", required=True) or ""
    level_raw = text("level", required=True) or ""
    level = _LEVEL_ALIASES.get(level_raw, level_raw.lower())
    parent_code = _code_text(found.get("parent_code"))
    previous_code = _code_text(found.get("previous_code"))

    def count(field: str) -> int | None:
        raw = found.get(field)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        value: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif (isinstance(raw, float) and raw.is_integer()) or (
            isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw)
        ):
            value = int(raw)
        if value is None or value < 0:
            problems.append(
                Problem(
                    "bad_property",
                    code,
                    f'{label}: "{field}" is {raw!r}; expected a whole number of 0 or more',
                    location,
                )
            )
            return None
        return value

    population = count("population")
    households = count("households")

    valid_from: date | None = None
    raw_date = found.get("valid_from")
    if isinstance(raw_date, datetime):
        valid_from = raw_date.date()
    elif isinstance(raw_date, date):
        valid_from = raw_date
    elif isinstance(raw_date, str) and raw_date.strip():
        try:
            valid_from = date.fromisoformat(raw_date.strip()[:10])
        except ValueError:
            problems.append(
                Problem(
                    "bad_property",
                    code,
                    f'{label}: "valid_from" is {raw_date!r}; expected an ISO date like 2024-01-01',
                    location,
                )
            )
    elif raw_date not in (None, ""):
        problems.append(
            Problem(
                "bad_property",
                code,
                f'{label}: "valid_from" is {raw_date!r}; expected an ISO date like 2024-01-01',
                location,
            )
        )

    synthetic_raw = found.get("synthetic")
    synthetic = synthetic_raw is True or (
        isinstance(synthetic_raw, str) and synthetic_raw.strip().lower() in {"true", "1", "yes"}
    )

    return BoundaryFeature(
        code=code,
        name=name,
        level=level,
        parent_code=parent_code,
        geometry=geometry,
        population=population,
        households=households,
        valid_from=valid_from,
        previous_code=previous_code,
        synthetic=synthetic,
        source_index=index,
        extra=extra,
    )


def _near(geometry: BaseGeometry) -> tuple[float, float] | None:
    if geometry.is_empty:
        return None
    try:
        point = geometry.representative_point()
        return (float(point.x), float(point.y))
    except shapely.errors.GEOSException:
        # An invalid polygon can defeat representative_point; any vertex is near enough.
        x, y = shapely.get_coordinates(geometry)[0]
        return (float(x), float(y))


def _fmt_point(point: Point) -> str:
    return ",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in point)


# --------------------------------------------------------------------------------------------
# Shapefile


@dataclass(frozen=True)
class _ShapefileFiles:
    """The member files of one Shapefile, read into memory (they come from disk or a zip)."""

    label: str
    shp: bytes
    dbf: bytes | None
    shx: bytes | None
    prj: bytes | None
    cpg: bytes | None

    @classmethod
    def from_directory(cls, shp_path: Path) -> _ShapefileFiles:
        # Siblings are matched case-insensitively: "ROADS.SHP" next to "roads.dbf" is common.
        siblings = {
            p.suffix.lower(): p
            for p in shp_path.parent.iterdir()
            if p.is_file() and p.stem.lower() == shp_path.stem.lower()
        }

        def get(ext: str) -> bytes | None:
            p = siblings.get(ext)
            return p.read_bytes() if p is not None else None

        return cls(
            label=shp_path.name,
            shp=shp_path.read_bytes(),
            dbf=get(".dbf"),
            shx=get(".shx"),
            prj=get(".prj"),
            cpg=get(".cpg"),
        )


def _read_zip(path: Path) -> tuple[list[BoundaryFeature], list[Problem]]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BoundaryFileError(f"{path.name}: not a readable zip archive ({exc})") from exc
    with archive:
        # Archives made on macOS carry resource-fork shadows ("__MACOSX/", "._x.shp").
        names = [
            n
            for n in archive.namelist()
            if not n.endswith("/") and "__MACOSX/" not in n and not Path(n).name.startswith("._")
        ]
        shps = [n for n in names if n.lower().endswith(".shp")]
        if len(shps) == 1:
            stem = shps[0][:-4].lower()
            members = {n[len(stem) :].lower(): n for n in names if n[:-4].lower() == stem}

            def get(ext: str) -> bytes | None:
                member = members.get(ext)
                return archive.read(member) if member is not None else None

            files = _ShapefileFiles(
                label=f"{path.name}/{shps[0]}",
                shp=archive.read(shps[0]),
                dbf=get(".dbf"),
                shx=get(".shx"),
                prj=get(".prj"),
                cpg=get(".cpg"),
            )
            return _read_shapefile(files)
        if len(shps) > 1:
            raise BoundaryFileError(
                f"{path.name}: holds {len(shps)} Shapefiles ({', '.join(sorted(shps))}); "
                "put exactly one Shapefile in the zip"
            )
        geojsons = [n for n in names if n.lower().endswith(GEOJSON_SUFFIXES)]
        if len(geojsons) == 1:
            return _read_geojson(archive.read(geojsons[0]), f"{path.name}/{geojsons[0]}")
        raise BoundaryFileError(
            f"{path.name}: holds no Shapefile (.shp with .dbf) and no single GeoJSON file"
        )


def _read_shapefile(files: _ShapefileFiles) -> tuple[list[BoundaryFeature], list[Problem]]:
    label = files.label
    if files.dbf is None:
        raise BoundaryFileError(
            f"{label}: the .dbf file with the attributes (code, name, level, ...) is missing; "
            "a Shapefile needs its .shp and .dbf side by side under the same name"
        )
    problems: list[Problem] = []
    if files.prj is not None:
        problem = _check_prj(files.prj, label)
        if problem is not None:
            problems.append(problem)

    # Without a .cpg the DBF encoding is unknown: Chinese GIS tools write GBK by default, newer
    # ones UTF-8. UTF-8 decoding of GBK text fails loudly, so trying UTF-8 first is safe.
    if files.cpg is not None and files.cpg.strip():
        encodings = [files.cpg.decode("ascii", "replace").strip()]
    else:
        encodings = ["utf-8", "gb18030"]

    shapes: list[Any] = []
    records: list[Any] = []
    shape_type = shapefile.NULL
    for attempt, encoding in enumerate(encodings):
        try:
            streams: dict[str, Any] = {"shp": io.BytesIO(files.shp), "dbf": io.BytesIO(files.dbf)}
            if files.shx is not None:  # optional: pyshp walks the .shp without it
                streams["shx"] = io.BytesIO(files.shx)
            with shapefile.Reader(encoding=encoding, **streams) as reader:
                shape_type = reader.shapeType
                shapes = list(reader.shapes())
                records = list(reader.records())
            break
        except (UnicodeDecodeError, LookupError, shapefile.ShapefileException) as exc:
            decoding = isinstance(exc, UnicodeDecodeError | LookupError) or "decode" in str(exc)
            if decoding and attempt + 1 < len(encodings):
                continue
            if decoding:
                raise BoundaryFileError(
                    f"{label}: the .dbf text cannot be decoded as {' or '.join(encodings)}; "
                    "add a .cpg file naming its encoding (e.g. GBK or UTF-8)"
                ) from exc
            raise BoundaryFileError(f"{label}: not a readable Shapefile: {exc}") from exc
        except (struct.error, ValueError, OSError) as exc:
            raise BoundaryFileError(
                f"{label}: not a readable Shapefile (truncated or damaged?): {exc}"
            ) from exc

    polygon_types = {shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM}
    if shape_type not in polygon_types and shape_type != shapefile.NULL:
        name = shapefile.SHAPETYPE_LOOKUP.get(shape_type, str(shape_type))
        raise BoundaryFileError(f"{label}: holds {name} shapes; boundaries must be polygons")
    if len(shapes) != len(records):
        raise BoundaryFileError(
            f"{label}: has {len(shapes)} shapes but {len(records)} attribute rows; the .shp "
            "and .dbf do not belong together"
        )

    features: list[BoundaryFeature] = []
    for index, (shape, record) in enumerate(zip(shapes, records, strict=True)):
        if record is None:
            continue  # deleted in the .dbf: not part of the data set
        where = f"feature #{index + 1}"
        props = record.as_dict()
        code = _code_of(props, where, problems)
        label_with_code = f"{where} ({code})" if code else where
        geometry = _geometry_from_shape(shape, code or "", label_with_code, problems)
        feature = _feature_from_properties(props, geometry, index, code, where, problems)
        if feature is not None:
            features.append(feature)
    return features, problems


def _geometry_from_shape(
    shape: Any, code: str, where: str, problems: list[Problem]
) -> BaseGeometry | None:
    if shape is None or shape.shapeType == shapefile.NULL or not shape.points:
        problems.append(Problem("bad_geometry", code, f"{where} has no geometry"))
        return None
    starts = list(shape.parts)
    ends = [*starts[1:], len(shape.points)]
    rings: list[Ring] = []
    for ring_no, (start, end) in enumerate(zip(starts, ends, strict=True)):
        ring_where = f"{where}, ring #{ring_no + 1}"
        points = [(float(p[0]), float(p[1])) for p in shape.points[start:end]]
        if not all(math.isfinite(v) for p in points for v in p):
            problems.append(Problem("bad_geometry", code, f"{ring_where}: non-finite coordinate"))
            continue
        ring = _check_ring(points, code, ring_where, problems)
        if ring is not None:
            rings.append(ring)
    if not rings:
        return None
    # Shapefile polygons are flat lists of rings: outer rings clockwise, holes counter-
    # clockwise, without saying which hole belongs to which outer ring; pyshp sorts that out.
    polygons = shapefile.organize_polygon_rings(rings)
    return _build_geometry(polygons, code, where, problems)


def _check_prj(prj: bytes, label: str) -> Problem | None:
    """Accept geographic WGS-84 or CGCS2000; anything projected or on another datum (Beijing
    1954, Xi'an 1980) has coordinates that are not WGS-84 degrees."""
    wkt = prj.decode("utf-8", "replace").strip()
    if not wkt:
        return None
    upper = wkt.upper()
    head = upper.split("[", 1)[0].strip()
    described = _wkt_name(wkt) or head
    if head in {"PROJCS", "PROJCRS", "PROJECTEDCRS"} or "PROJECTION[" in upper:
        return Problem(
            "crs",
            "",
            f"{label}: the .prj declares the projected system {described!r} (coordinates in "
            f"metres, not degrees); {_REPROJECT_HINT}",
        )
    if head not in {"GEOGCS", "GEOGCRS", "GEODCRS", "GEOGRAPHICCRS"}:
        return Problem(
            "crs",
            "",
            f"{label}: the .prj coordinate system {described!r} is not understood; "
            f"{_REPROJECT_HINT}",
        )
    datum_match = re.search(r'DATUM\s*\[\s*"([^"]*)"', wkt, re.IGNORECASE)
    datum = (datum_match.group(1) if datum_match else described).upper().replace(" ", "_")
    wgs84 = "WGS" in datum and "84" in datum
    cgcs2000 = "CGCS" in datum or "CHINA_2000" in datum or "CHINA_GEODETIC" in datum
    if wgs84 or cgcs2000:
        return None
    datum_name = datum_match.group(1) if datum_match else described
    return Problem(
        "crs",
        "",
        f"{label}: the .prj declares the datum {datum_name!r}, not WGS-84 or CGCS2000; "
        f"{_REPROJECT_HINT}",
    )


def _wkt_name(wkt: str) -> str | None:
    match = re.match(r'\s*\w+\s*\[\s*"([^"]*)"', wkt)
    return match.group(1) if match else None
