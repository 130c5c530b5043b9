"""A second city: New York's community districts against its own 311 `Community Board` labels."""

from __future__ import annotations

import csv

from open311.config import geodata_dir
from open311.db import district_queries
from open311.domain.districts import replace_layer
from open311.geodata.reader import read_features
from tests.factories import make_jurisdiction

NYC = geodata_dir() / "new-york-city"


def labelled_points() -> list[tuple[float, float, str]]:
    """(lat, long, "MANHATTAN 04") for rows whose board is a numbered community district."""
    points = []
    with (NYC / "nyc311_sample_2023-02-28.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            number, _, borough = row["Community Board"].partition(" ")
            if row["Latitude"] and number.isdigit():
                points.append(
                    (float(row["Latitude"]), float(row["Longitude"]), f"{borough} {number}")
                )
    return points


def test_community_districts_agree_with_the_citys_labels(db):
    nyc = make_jurisdiction(
        db, jurisdiction_id="nyc.gov", name="New York City", time_zone="America/New_York"
    )
    layer = read_features(NYC / "community_districts.geojson", "geography_value")
    replace_layer(db, nyc, "community_districts", layer.features, snap_tolerance_m=30)
    points = labelled_points()
    agreeing = 0
    for lat, long, label in points:
        found = district_queries.find_districts_at(db, nyc, lat, long)
        agreeing += bool(found) and found[0][3] == label
    share = agreeing / len(points)
    print(f"\nNYC: {agreeing}/{len(points)} = {share:.2%} in the city's community district")
    assert len(points) > 4_800
    # The published agreement of the polygons themselves is 99.0% (geodata/README.md): the
    # misses are points on borough-edge streets that the city filed with the other side.
    assert share >= 0.985
