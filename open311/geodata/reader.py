"""Read polygon layers with pyogrio (GDAL) and reproject them to EPSG:4326 with pyproj."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon

from open311.geodata.features import AreaFile, Feature, LayerFile

__all__ = ["AreaFile", "BoundaryFileError", "Feature", "LayerFile", "read_area", "read_features"]

WGS84 = CRS.from_epsg(4326)
# The columns of District and BoundaryLayer; a longer name is refused, never cut.
MAX_NAME = 255
_GDAL_ERRORS = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.CRSError,
)


class BoundaryFileError(ValueError):
    """A file that cannot be imported; the message names the file and the reason."""


@dataclass(frozen=True)
class _Layer:
    fields: list[str]
    rows: list[dict[str, Any]]
    geometries: list[MultiPolygon]
    source_crs: str
    reprojected: bool


def read_features(path: Path | str, name_field: str, title_field: str | None = None) -> LayerFile:
    """Every feature of the file's only layer as a named MultiPolygon in EPSG:4326.

    Refuses (BoundaryFileError) a file GDAL cannot read, one with several layers or no features,
    a missing name or title field, an empty or duplicate name, and any geometry that is not a
    Polygon or MultiPolygon. Invalid rings are kept as they are: the import repairs them in
    PostGIS and reports each repair.
    """
    path = Path(path)
    layer = _read(path)
    for field, option in ((name_field, "name"), (title_field, "title")):
        if field is not None and field not in layer.fields:
            raise BoundaryFileError(
                f"{path.name}: no {option} field {field!r}; "
                f"its fields are: {', '.join(layer.fields) or '(none)'}"
            )
    features = []
    for position, (row, geometry) in enumerate(
        zip(layer.rows, layer.geometries, strict=True), start=1
    ):
        name = _text(row.get(name_field))
        if name is None:
            raise BoundaryFileError(f"{path.name}: feature {position} has no {name_field!r}")
        title = _text(row.get(title_field)) if title_field else None
        for label, value in (("name", name), ("title", title)):
            if value is not None and len(value) > MAX_NAME:
                raise BoundaryFileError(
                    f"{path.name}: feature {position} has a {label} longer than {MAX_NAME} "
                    f"characters: {value[:40]!r}..."
                )
        features.append(Feature(name, title, row, geometry))
    duplicates = sorted(name for name, n in Counter(f.name for f in features).items() if n > 1)
    if duplicates:
        shown = ", ".join(repr(name) for name in duplicates[:10])
        more = f" and {len(duplicates) - 10} more" if len(duplicates) > 10 else ""
        raise BoundaryFileError(
            f"{path.name}: {name_field!r} must name each feature once; repeated: {shown}{more}"
        )
    return LayerFile(path, layer.source_crs, layer.reprojected, features)


def read_area(path: Path | str) -> AreaFile:
    """Every polygon of the file's only layer in EPSG:4326, for an outline (a service area)."""
    path = Path(path)
    layer = _read(path)
    return AreaFile(path, layer.source_crs, layer.reprojected, layer.geometries)


def _read(path: Path) -> _Layer:
    if not path.exists():
        raise BoundaryFileError(f"{path}: no such file")
    try:
        layers = pyogrio.list_layers(path)
        if len(layers) > 1:
            # Taking the first silently could import the wrong one (GeoPackages often hold several).
            names = ", ".join(str(name) for name, _type in layers)
            raise BoundaryFileError(
                f"{path.name}: holds {len(layers)} layers ({names}); export the one to import "
                "to a file of its own"
            )
        meta, _fids, wkbs, columns = pyogrio.raw.read(path, force_2d=True, datetime_as_string=True)
    except _GDAL_ERRORS as exc:
        raise BoundaryFileError(f"{path.name}: not a file GDAL can read ({exc})") from None
    if len(wkbs) == 0:
        raise BoundaryFileError(f"{path.name}: has no features")
    fields = [str(name) for name in meta["fields"]]
    json_fields = {
        name
        for name, subtype in zip(fields, meta.get("ogr_subtypes") or [], strict=False)
        if subtype == "OFSTJSON"
    }
    rows = [
        {
            name: _json_value(column[i], name in json_fields)
            for name, column in zip(fields, columns, strict=True)
        }
        for i in range(len(wkbs))
    ]
    geometries = [_multipolygon(path, i, wkb) for i, wkb in enumerate(wkbs, start=1)]
    crs = _crs(path, meta.get("crs"), geometries)
    reprojected = not crs.equals(WGS84, ignore_axis_order=True)
    if reprojected:
        geometries = _to_wgs84(path, crs, geometries)
    _check_lon_lat(path, geometries)
    return _Layer(fields, rows, geometries, _crs_label(crs), reprojected)


def _multipolygon(path: Path, position: int, wkb: bytes | None) -> MultiPolygon:
    if wkb is None:
        raise BoundaryFileError(f"{path.name}: feature {position} has no geometry")
    try:
        geometry = shapely.from_wkb(wkb)
    except GEOSException as exc:
        raise BoundaryFileError(
            f"{path.name}: feature {position} has an unreadable geometry ({exc})"
        ) from None
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry])
    if not isinstance(geometry, MultiPolygon):
        raise BoundaryFileError(
            f"{path.name}: feature {position} is a {geometry.geom_type}; "
            "district layers take Polygon and MultiPolygon only"
        )
    if geometry.is_empty:
        raise BoundaryFileError(f"{path.name}: feature {position} has an empty geometry")
    return geometry


def _crs(path: Path, declared: str | None, geometries: list[MultiPolygon]) -> CRS:
    if declared is None:
        # A Shapefile without its .prj: lon/lat is the only safe guess, and only if it fits.
        xmin, ymin, xmax, ymax = shapely.total_bounds(geometries)
        if -180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90:
            return WGS84
        raise BoundaryFileError(
            f"{path.name}: declares no CRS and its coordinates are not longitude/latitude "
            "(a Shapefile's .prj missing?)"
        )
    try:
        return CRS.from_user_input(declared)
    except CRSError as exc:
        raise BoundaryFileError(f"{path.name}: CRS not understood ({exc})") from None


def _to_wgs84(path: Path, crs: CRS, geometries: list[MultiPolygon]) -> list[MultiPolygon]:
    try:
        transformer = Transformer.from_crs(crs, WGS84, always_xy=True)
    except (CRSError, ProjError) as exc:
        raise BoundaryFileError(
            f"{path.name}: cannot transform from {_crs_label(crs)} to EPSG:4326 ({exc})"
        ) from None

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1], errcheck=True)
        return np.column_stack([x, y])

    try:
        projected = shapely.transform(np.array(geometries, dtype=object), project)
    except ProjError as exc:
        raise BoundaryFileError(
            f"{path.name}: coordinates outside what {_crs_label(crs)} can transform ({exc})"
        ) from None
    return list(projected)


def _check_lon_lat(path: Path, geometries: list[MultiPolygon]) -> None:
    bounds = shapely.bounds(np.array(geometries, dtype=object))
    lon_ok = np.isfinite(bounds).all(axis=1) & (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
    lat_ok = (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90)
    bad = np.flatnonzero(~(lon_ok & lat_ok))
    if bad.size:
        raise BoundaryFileError(
            f"{path.name}: feature {bad[0] + 1} lies outside longitude/latitude range after "
            "reading; is the file's CRS declared correctly?"
        )


def _crs_label(crs: CRS) -> str:
    authority = crs.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else crs.name


def _text(value: Any) -> str | None:
    """A name or title as text: numbers without a spurious '.0', blanks as None."""
    value = _json_value(value, False)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _json_value(value: Any, is_json: bool) -> Any:
    """A field value as something JSONB stores: numpy scalars unboxed, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if is_json and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
