"""What a boundary file holds once read: named WGS 84 MultiPolygons, plain values without IO."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from shapely.geometry import MultiPolygon


class Feature(NamedTuple):
    """One district as the file gives it; the geometry may still be invalid (PostGIS repairs it)."""

    name: str
    title: str | None
    properties: dict[str, Any]
    geometry: MultiPolygon  # EPSG:4326, longitude/latitude


@dataclass(frozen=True)
class LayerFile:
    """The features of a boundary file and the CRS they were read in."""

    path: Path
    source_crs: str  # e.g. "EPSG:2229", or the CRS's name when it has no authority code
    reprojected: bool  # True when the coordinates were transformed to EPSG:4326
    features: list[Feature]


@dataclass(frozen=True)
class AreaFile:
    """The polygons of a file that outlines an area (a service area), names not needed."""

    path: Path
    source_crs: str
    reprojected: bool
    polygons: list[MultiPolygon]
