"""`open311 geodata`: real LA layers into PostGIS, other CRSs and formats, repairs, bad files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pytest
import shapely
from click.testing import CliRunner, Result
from flask.cli import ScriptInfo
from geoalchemy2.shape import to_shape
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from open311.cli import main
from open311.config import geodata_dir
from open311.db import district_queries
from open311.db.models import (
    BoundaryLayer,
    District,
    Jurisdiction,
    RequestDistrict,
    crew_district,
)
from open311.domain import districts
from open311.domain.districts import replace_layer
from open311.errors import InvalidInput, NotFound
from open311.geodata.reader import BoundaryFileError, read_area, read_features
from tests.factories import (
    district_feature,
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
    place_request,
)

LA = geodata_dir() / "los-angeles"
COUNCIL_DISTRICTS = LA / "council_districts_2012.geojson"
NEIGHBORHOOD_COUNCILS = LA / "neighborhood_councils.geojson"
# A self-intersecting ring near City Hall: two triangles touching at (-118.2425, 34.0525).
BOWTIE = Polygon([(-118.245, 34.050), (-118.240, 34.055), (-118.240, 34.050), (-118.245, 34.055)])


@pytest.fixture
def la(db: Session) -> Jurisdiction:
    return make_jurisdiction(db)


def import_file(
    db: Session, la: Jurisdiction, path: Path, layer: str = "council_districts", **options: Any
) -> districts.ImportReport:
    layer_file = read_features(path, "name")
    return replace_layer(db, la, layer, layer_file.features, **options)


def stored(db: Session, layer_name: str) -> dict[str, dict[str, Any]]:
    """name -> what PostGIS holds for each district of the layer."""
    query = (
        select(
            District.name,
            District.id,
            District.area_m2,
            District.geom,
            func.ST_IsValid(District.geom).label("valid"),
            func.ST_SRID(District.geom).label("srid"),
            func.ST_GeometryType(District.geom).label("type"),
        )
        .join(BoundaryLayer)
        .where(BoundaryLayer.name == layer_name)
    )
    return {row.name: row._asdict() for row in db.execute(query)}


def layer_row(db: Session, name: str) -> BoundaryLayer:
    return db.scalars(
        select(BoundaryLayer)
        .where(BoundaryLayer.name == name)
        .execution_options(populate_existing=True)
    ).one()


def write_layer(
    path: Path,
    geometries: list[Any],
    names: list[str],
    *,
    crs: str = "EPSG:4326",
    layer: str | None = None,
) -> Path:
    """A boundary file written by GDAL (pyogrio), with a `name` field."""
    pyogrio.raw.write(
        path,
        np.array([shapely.to_wkb(g) for g in geometries], dtype=object),
        [np.array(names, dtype=object)],
        ["name"],
        geometry_type="MultiPolygon",
        crs=crs,
        layer=layer,
    )
    return path


def reprojected(path: Path, epsg: int) -> tuple[list[Any], list[str]]:
    """The features of a WGS 84 file, reprojected to `epsg` by pyproj."""
    layer_file = read_features(path, "name")
    to_target = Transformer.from_crs(4326, epsg, always_xy=True)
    geometries = [
        shapely.transform(f.geometry, lambda xy: np.column_stack(to_target.transform(*xy.T)))
        for f in layer_file.features
    ]
    return geometries, [f.name for f in layer_file.features]


def max_vertex_shift_deg(db: Session, layer_a: str, layer_b: str) -> float:
    """How far apart matching vertices of same-named districts of two layers are, in degrees.

    Rings are normalised first: a Shapefile may store them in the other orientation.
    """
    a, b = stored(db, layer_a), stored(db, layer_b)
    assert a.keys() == b.keys()
    shifts = []
    for name in a:
        xy_a, xy_b = (
            shapely.get_coordinates(shapely.normalize(to_shape(d[name]["geom"]))) for d in (a, b)
        )
        assert xy_a.shape == xy_b.shape, name
        shifts.append(np.abs(xy_a - xy_b).max())
    return max(shifts)


# --- the real Los Angeles layers -----------------------------------------------------------------


def test_imports_la_council_districts(db, la):
    before = datetime.now(UTC) - timedelta(seconds=1)
    report = import_file(
        db, la, COUNCIL_DISTRICTS, title="Council Districts (2012)", source="cd.geojson"
    )

    assert (report.inserted, report.updated, report.deleted, report.repaired) == (15, 0, 0, 0)
    assert report.created_layer
    found = stored(db, "council_districts")
    assert sorted(found, key=int) == [str(n) for n in range(1, 16)]
    assert {(d["valid"], d["srid"], d["type"]) for d in found.values()} == {
        (True, 4326, "ST_MultiPolygon")
    }
    # 15 districts of 33-169 km² each; their union is 1,241.9 km² and the slivers are tiny.
    assert all(30e6 < d["area_m2"] < 175e6 for d in found.values())
    assert sum(d["area_m2"] for d in found.values()) == pytest.approx(1241.9e6, rel=0.005)
    layer = layer_row(db, "council_districts")
    assert layer.title == "Council Districts (2012)"
    assert layer.source.startswith("cd.geojson, imported ")
    assert layer.imported_at >= before
    assert layer.snap_tolerance_m == 50.0
    properties = db.scalar(select(District.properties).where(District.name == "10"))
    assert properties["metadata"] == {"DISTRICT": "10"}  # a JSON-typed field, kept as JSON


def test_imports_la_neighborhood_councils_with_their_overlaps(db, la):
    report = import_file(db, la, NEIGHBORHOOD_COUNCILS, "neighborhood_councils")

    assert (report.inserted, report.repaired) == (99, 0)
    found = stored(db, "neighborhood_councils")
    assert len(found) == 99
    assert all(d["valid"] and d["type"] == "ST_MultiPolygon" for d in found.values())
    assert sum(d["area_m2"] for d in found.values()) == pytest.approx(1148.6e6, rel=0.005)
    # Councils overlap in reality; the largest overlap, Lake Balboa / Encino, is about 8.1 km².
    overlap = db.scalar(
        text(
            "SELECT ST_Area(ST_Intersection(a.geom, b.geom)::geography) FROM district a "
            "JOIN district b ON a.layer_id = b.layer_id "
            "WHERE a.name = 'LAKE BALBOA NC' AND b.name = 'ENCINO NC'"
        )
    )
    assert overlap == pytest.approx(8.1e6, rel=0.05)


def area_drift_m2(db: Session) -> float:
    """How far any stored area_m2 is from the spheroid area of the stored geometry."""
    spheroid_area = func.ST_Area(func.Geography(District.geom))
    return db.scalar(select(func.max(func.abs(District.area_m2 - spheroid_area))))


def test_area_is_the_spheroid_area_of_the_stored_geometry(db, la):
    import_file(db, la, COUNCIL_DISTRICTS)
    assert area_drift_m2(db) < 1e-3


# --- re-importing ----------------------------------------------------------------------------


def test_reimport_keeps_district_ids_crews_and_placed_requests(db, la):
    import_file(db, la, COUNCIL_DISTRICTS)
    before = stored(db, "council_districts")
    five, fifteen = (db.get(District, before[n]["id"]) for n in ("5", "15"))
    crew = make_crew(db, make_agency(db, la), districts=[five, fifteen])
    service = make_service(db, la)
    placed_in_five = make_request(db, service)
    place_request(db, placed_in_five, five)
    placed_in_fifteen = make_request(db, service)
    place_request(db, placed_in_fifteen, fifteen)

    features = read_features(COUNCIL_DISTRICTS, "name").features
    kept = [f for f in features if f.name != "15"]
    # District 1 shrinks to half its width and height: a real change of geometry.
    one = next(f for f in kept if f.name == "1")
    smaller = affinity.scale(one.geometry, 0.5, 0.5)
    kept = [f._replace(geometry=smaller) if f.name == "1" else f for f in kept]
    kept.append(district_feature("16", bounds=(-118.30, 34.00, -118.29, 34.01)))
    report = replace_layer(db, la, "council_districts", kept)

    assert (report.inserted, report.updated, report.deleted) == (1, 14, 1)
    assert report.deleted_names == ["15"]
    after = stored(db, "council_districts")
    assert {n: after[n]["id"] for n in after if n != "16"} == {
        n: before[n]["id"] for n in before if n != "15"
    }
    assert after["1"]["area_m2"] == pytest.approx(before["1"]["area_m2"] / 4, rel=0.01)
    covered = db.scalars(
        select(crew_district.c.district_id).where(crew_district.c.crew_id == crew.id)
    ).all()
    assert covered == [before["5"]["id"]]
    placements = db.execute(select(RequestDistrict.service_request_pk, RequestDistrict.district_id))
    assert set(placements) == {(placed_in_five.id, before["5"]["id"])}
    # The layer loaded before the import lists the districts it has now.
    assert {d.name for d in layer_row(db, "council_districts").districts} == after.keys()


def test_layer_settings_are_kept_unless_given(db, la):
    import_file(db, la, COUNCIL_DISTRICTS, title="CDs", snap_tolerance_m=100, source="a")
    import_file(db, la, COUNCIL_DISTRICTS)
    layer = layer_row(db, "council_districts")
    assert (layer.title, layer.snap_tolerance_m) == ("CDs", 100.0)
    assert layer.source.startswith("a, imported")


# --- other CRSs and formats ----------------------------------------------------------------------


def test_file_in_state_plane_feet_imports_to_the_same_geometry(db, la, tmp_path):
    geometries, names = reprojected(COUNCIL_DISTRICTS, 2229)  # NAD83 / California zone 5 (ftUS)
    path = write_layer(tmp_path / "cd_2229.gpkg", geometries, names, crs="EPSG:2229")

    layer_file = read_features(path, "name")
    assert (layer_file.source_crs, layer_file.reprojected) == ("EPSG:2229", True)
    replace_layer(db, la, "cd_2229", layer_file.features)
    import_file(db, la, COUNCIL_DISTRICTS)

    # There and back through PROJ: equal to well under a millimetre (1e-8 degree ~ 1 mm).
    assert max_vertex_shift_deg(db, "council_districts", "cd_2229") < 1e-8


def test_shapefile_in_web_mercator_imports(db, la, tmp_path):
    geometries, names = reprojected(NEIGHBORHOOD_COUNCILS, 3857)
    # A Shapefile stores single-part polygons as Polygon; the reader makes them MultiPolygons.
    path = write_layer(tmp_path / "nc.shp", geometries, names, crs="EPSG:3857")

    layer_file = read_features(path, "name")
    assert layer_file.source_crs == "EPSG:3857"
    assert all(isinstance(f.geometry, MultiPolygon) for f in layer_file.features)
    report = replace_layer(db, la, "nc_3857", layer_file.features)
    import_file(db, la, NEIGHBORHOOD_COUNCILS, "neighborhood_councils")

    assert report.inserted == 99
    assert max_vertex_shift_deg(db, "neighborhood_councils", "nc_3857") < 1e-8


def test_nyc_layers_by_numeric_codes(db):
    nyc = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York City")
    city = geodata_dir() / "new-york-city"
    community = read_features(city / "community_districts.geojson", "boro_cd", "name")
    council = read_features(city / "council_districts.geojson", "district_number", "name")

    assert replace_layer(db, nyc, "community_districts", community.features).inserted == 59
    assert replace_layer(db, nyc, "council_districts", council.features).inserted == 51

    assert {"101", "318", "503"} <= stored(db, "community_districts").keys()
    assert stored(db, "council_districts").keys() == {str(n) for n in range(1, 52)}
    title = db.scalar(select(District.title).where(District.name == "101"))
    assert title == "Manhattan Community District 1"


# --- repairs -----------------------------------------------------------------------------------


def test_bowtie_is_repaired_and_reported(db, la, tmp_path):
    path = tmp_path / "with_bowtie.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": {"name": n}, "geometry": g.__geo_interface__}
                    for n, g in (
                        ("bowtie", BOWTIE),
                        ("square", shapely.box(-118.3, 34, -118.29, 34.01)),
                    )
                ],
            }
        )
    )

    report = import_file(db, la, path, "test_layer")

    assert report.repaired == 1
    [repair] = report.repairs
    assert repair.name == "bowtie"
    assert repair.reason.startswith("Self-intersection")
    found = stored(db, "test_layer")
    bowtie = found["bowtie"]
    assert (bowtie["valid"], bowtie["type"]) == (True, "ST_MultiPolygon")
    repaired = to_shape(bowtie["geom"])
    assert len(repaired.geoms) == 2  # the two triangles
    assert repaired.area == pytest.approx(BOWTIE.envelope.area / 2)
    assert area_drift_m2(db) < 1e-3  # measured after the repair: two triangles of 460 x 555 m
    assert bowtie["area_m2"] == pytest.approx(460 * 555 / 2, rel=0.01)
    assert found["square"]["valid"]


def test_no_area_left_after_repair_is_refused_and_nothing_changes(db, la, monkeypatch):
    import_file(db, la, COUNCIL_DISTRICTS)
    before = stored(db, "council_districts")
    # Small batches, so earlier batches were written before the bad feature is met.
    monkeypatch.setattr(districts, "BATCH_SIZE", 4)
    features = read_features(COUNCIL_DISTRICTS, "name").features
    flat = Polygon([(-118.3, 34.0), (-118.2, 34.0), (-118.1, 34.0), (-118.3, 34.0)])
    shrunk = affinity.scale(features[0].geometry, 0.5, 0.5)
    bad = [
        district_feature("new"),  # inserted by the first batch
        features[0]._replace(geometry=shrunk),  # updated by the first batch
        *features[1:10],
        district_feature("flat", flat),
    ]

    with pytest.raises(InvalidInput, match="flat: no area is left"):
        replace_layer(db, la, "council_districts", bad, title="never")

    after = stored(db, "council_districts")
    assert {n: d["id"] for n, d in after.items()} == {n: d["id"] for n, d in before.items()}
    assert {n: d["area_m2"] for n, d in after.items()} == {
        n: d["area_m2"] for n, d in before.items()
    }
    assert layer_row(db, "council_districts").title is None


def test_duplicate_names_are_refused_by_the_domain_too(db, la):
    with pytest.raises(InvalidInput, match="repeated"):
        replace_layer(db, la, "x", [district_feature("a"), district_feature("a")])


# --- bad files -------------------------------------------------------------------------------


def _feature_collection(*features: dict[str, Any]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def _square(name: Any) -> dict[str, Any]:
    geometry = shapely.box(-118.3, 34.0, -118.2, 34.1).__geo_interface__
    return {"type": "Feature", "properties": {"name": name}, "geometry": geometry}


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere.geojson"


def _garbage(tmp: Path) -> Path:
    path = tmp / "garbage.geojson"
    path.write_text("this is not GeoJSON, nor anything else GDAL reads\n")
    return path


def _no_features(tmp: Path) -> Path:
    path = tmp / "empty.geojson"
    path.write_text(_feature_collection())
    return path


def _points(tmp: Path) -> Path:
    path = tmp / "points.geojson"
    point = {"type": "Point", "coordinates": [-118.24, 34.05]}
    path.write_text(
        _feature_collection({"type": "Feature", "properties": {"name": "x"}, "geometry": point})
    )
    return path


def _no_name_field(tmp: Path) -> Path:
    path = tmp / "unnamed.geojson"
    feature = _square("x") | {"properties": {"label": "x"}}
    path.write_text(_feature_collection(feature))
    return path


def _duplicates(tmp: Path) -> Path:
    path = tmp / "twice.geojson"
    path.write_text(_feature_collection(_square("3"), _square("4"), _square("3")))
    return path


def _empty_name(tmp: Path) -> Path:
    path = tmp / "blank.geojson"
    path.write_text(_feature_collection(_square("3"), _square("  ")))
    return path


def _engineering_crs(tmp: Path) -> Path:
    crs = (
        'LOCAL_CS["site grid",LOCAL_DATUM["site",0],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]'
    )
    return write_layer(tmp / "site.gpkg", [shapely.box(0, 0, 100, 100)], ["a"], crs=crs)


def _two_layers(tmp: Path) -> Path:
    path = tmp / "wards_and_precincts.gpkg"
    for layer in ("wards", "precincts"):
        write_layer(path, [shapely.box(-118.3, 34.0, -118.2, 34.1)], ["a"], layer=layer)
    return path


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (_missing, "no such file"),
    "garbage": (_garbage, "not a file GDAL can read"),
    "no features": (_no_features, "has no features"),
    "points": (_points, "is a Point"),
    "no name field": (_no_name_field, "no name field 'name'; its fields are: label"),
    "duplicate names": (_duplicates, "repeated: '3'"),
    "empty name": (_empty_name, "feature 2 has no 'name'"),
    "engineering CRS": (_engineering_crs, "cannot transform from site grid"),
    "several layers": (_two_layers, "holds 2 layers (wards, precincts)"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_refused_by_the_reader(tmp_path, case):
    make, message = BAD_FILES[case]
    with pytest.raises(BoundaryFileError, match=re.escape(message)):
        read_features(make(tmp_path), "name")


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_exits_nonzero_and_leaves_the_layer_alone(db, la, cli, tmp_path, case):
    import_file(db, la, COUNCIL_DISTRICTS, title="CDs")
    before = stored(db, "council_districts")
    imported_at = layer_row(db, "council_districts").imported_at
    make, message = BAD_FILES[case]

    result = cli("geodata", "import", str(make(tmp_path)), "--layer", "council_districts")

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Error:" in result.output
    assert {n: d["id"] for n, d in stored(db, "council_districts").items()} == {
        n: d["id"] for n, d in before.items()
    }
    assert layer_row(db, "council_districts").imported_at == imported_at


# --- the service area ------------------------------------------------------------------------


def service_area_checks(db: Session, la: Jurisdiction, layer: str) -> dict[str, Any]:
    return (
        db.execute(
            text(
                "SELECT ST_IsValid(j.service_area) AS valid, ST_SRID(j.service_area) AS srid, "
                "ST_GeometryType(j.service_area) AS type, "
                "ST_Area(j.service_area::geography) AS area_m2, "
                "max(ST_Area(ST_Difference(d.geom, j.service_area)::geography)) AS outside_m2, "
                "bool_and(ST_Covers(j.service_area, d.geom)) AS covers_all "
                "FROM jurisdiction j JOIN boundary_layer l ON l.jurisdiction_id = j.id "
                "JOIN district d ON d.layer_id = l.id "
                "WHERE j.id = :j AND l.name = :layer GROUP BY j.id"
            ),
            {"j": la.id, "layer": layer},
        )
        .one()
        ._asdict()
    )


def test_service_area_from_a_layer_covers_every_district_and_a_buffer_grows_it(db, la):
    import_file(db, la, COUNCIL_DISTRICTS)

    plain = districts.set_service_area_from_layer(db, la, "council_districts")
    exact = service_area_checks(db, la, "council_districts")
    grown = districts.set_service_area_from_layer(db, la, "council_districts", buffer_m=200)
    buffered = service_area_checks(db, la, "council_districts")

    assert (exact["valid"], exact["srid"], exact["type"]) == (True, 4326, "ST_MultiPolygon")
    # The union loses nothing of any district (floating-point noise aside).
    assert exact["outside_m2"] < 1.0
    assert plain.area_m2 == pytest.approx(1241.9e6, rel=0.005)
    assert (buffered["valid"], buffered["type"]) == (True, "ST_MultiPolygon")
    assert buffered["covers_all"]
    # 200 m around a city boundary of several hundred km adds tens of km².
    assert grown.area_m2 - plain.area_m2 > 30e6
    assert la.service_area is not None  # the attribute reads the new value


def test_service_area_from_a_file_matches_the_layer(db, la):
    import_file(db, la, COUNCIL_DISTRICTS)
    from_layer = districts.set_service_area_from_layer(db, la, "council_districts")
    from_file = districts.set_service_area(db, la, read_area(COUNCIL_DISTRICTS).polygons)

    assert from_file.area_m2 == pytest.approx(from_layer.area_m2, rel=1e-6)
    assert from_file.parts == from_layer.parts


def test_service_area_of_an_unknown_layer_is_refused(db, la):
    with pytest.raises(NotFound):
        districts.set_service_area_from_layer(db, la, "no_such_layer")
    assert db.scalar(select(Jurisdiction.service_area).where(Jurisdiction.id == la.id)) is None


# --- the spatial index -----------------------------------------------------------------------


def test_point_in_district_lookup_uses_the_gist_index(db, la):
    import_file(db, la, COUNCIL_DISTRICTS)
    import_file(db, la, NEIGHBORHOOD_COUNCILS, "neighborhood_councils")
    layer = layer_row(db, "neighborhood_councils")
    # Fresh statistics, as autovacuum would have after a committed import (ANALYZE sees this
    # transaction's rows). No enable_seqscan = off: with PostGIS's costly ST_Covers, a
    # seq scan over 114 rows costs more than the index, so the planner picks it on its own.
    db.execute(text("ANALYZE district"))
    plan = db.scalar(
        text(
            "EXPLAIN (FORMAT JSON) SELECT id, name FROM district "
            "WHERE layer_id = :layer AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
        ),
        {"layer": layer.id, "x": -118.2437, "y": 34.0522},
    )
    assert "idx_district_geom" in json.dumps(plan), json.dumps(plan, indent=1)
    found = db.scalars(
        text(
            "SELECT name FROM district WHERE layer_id = :layer "
            "AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
        ),
        {"layer": layer.id, "x": -118.2437, "y": 34.0522},
    ).all()
    assert found == ["DOWNTOWN LOS ANGELES"]


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli(app) -> Callable[..., Result]:
    """Run `open311 ...` with the app whose sessions join the test's transaction."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))

    return invoke


def test_cli_import_layers_and_service_area(db, la, cli, tmp_path):
    imported = cli(
        "geodata",
        "import",
        str(COUNCIL_DISTRICTS),
        "--layer",
        "council_districts",
        "--title",
        "Council Districts",
        "--title-field",
        "slug",
        "--snap-tolerance-m",
        "100",
    )
    assert imported.exit_code == 0, imported.output
    assert "read 15 features from council_districts_2012.geojson (EPSG:4326)" in imported.output
    assert "15 districts (15 new, 0 updated, 0 deleted, 0 repaired)" in imported.output
    layer = layer_row(db, "council_districts")
    assert (layer.title, layer.snap_tolerance_m) == ("Council Districts", 100.0)
    assert layer.source.startswith("council_districts_2012.geojson, imported ")
    assert db.scalar(select(District.title).where(District.name == "4")).startswith("4-la-city")

    geometries, names = reprojected(COUNCIL_DISTRICTS, 2229)
    again = write_layer(tmp_path / "cd.gpkg", geometries[1:], names[1:], crs="EPSG:2229")
    reimported = cli("geodata", "import", str(again), "--layer", "council_districts")
    assert reimported.exit_code == 0, reimported.output
    assert "reprojected from EPSG:2229" in reimported.output
    assert "14 districts (0 new, 14 updated, 1 deleted, 0 repaired)" in reimported.output
    assert f"deleted: {names[0]}" in reimported.output

    listed = cli("geodata", "layers")
    assert listed.exit_code == 0, listed.output
    assert "council_districts: 14 districts, snap 100 m" in listed.output
    assert "source: cd.gpkg (EPSG:2229), imported" in listed.output
    assert "service area: none" in listed.output

    area = cli("geodata", "service-area", "--from-layer", "council_districts", "--buffer-m", "150")
    assert area.exit_code == 0, area.output
    assert "service area of lacity.org: layer council_districts + 150 m" in area.output
    assert db.scalar(select(Jurisdiction.service_area.is_not(None))) is True
    assert "service area: 1," in cli("geodata", "layers").output


def test_cli_shows_progress_on_files_of_several_batches(db, la, cli, monkeypatch):
    monkeypatch.setattr(districts, "BATCH_SIZE", 20)
    result = cli("geodata", "import", str(NEIGHBORHOOD_COUNCILS), "--layer", "nc")
    assert result.exit_code == 0, result.output
    assert "writing districts" in result.output
    assert "99 districts (99 new, 0 updated, 0 deleted, 0 repaired)" in result.output
    small = cli("geodata", "import", str(COUNCIL_DISTRICTS), "--layer", "cd")
    assert "writing districts" not in small.output


def test_cli_service_area_from_a_file_and_its_errors(db, la, cli, tmp_path):
    bowtie = write_layer(tmp_path / "area.gpkg", [BOWTIE], ["b"])
    from_file = cli("geodata", "service-area", "--file", str(bowtie))
    assert from_file.exit_code == 0, from_file.output
    assert "service area of lacity.org: area.gpkg" in from_file.output
    assert "in 2 polygon(s)" in from_file.output
    inside = db.scalar(
        select(
            func.ST_Covers(
                Jurisdiction.service_area, func.ST_GeomFromText(Point(-118.2440, 34.0510).wkt, 4326)
            )
        )
    )
    assert inside

    neither = cli("geodata", "service-area")
    assert neither.exit_code == 2 and "exactly one of" in neither.output
    unknown = cli("geodata", "service-area", "--from-layer", "nope")
    assert unknown.exit_code == 1 and "no layer nope" in unknown.output
    points = cli("geodata", "service-area", "--file", str(_points(tmp_path)))
    assert points.exit_code == 1 and "is a Point" in points.output


def test_cli_help_says_what_each_command_does(cli):
    for command, words in (
        ("import", "Districts are matched by name"),
        ("layers", "number of districts"),
        ("service-area", "points outside it are refused"),
    ):
        result = cli("geodata", command, "--help")
        assert result.exit_code == 0 and words in result.output


def test_queries_list_layers_with_counts(db, la):
    import_file(db, la, COUNCIL_DISTRICTS)
    replace_layer(db, la, "tiny", [district_feature("only")])
    listed = [
        (layer.name, n) for layer, n in district_queries.find_boundary_layers_with_counts(db, la)
    ]
    assert listed == [("council_districts", 15), ("tiny", 1)]
