"""`open311 geodata`: district layers from boundary files, their listing, and the service area."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask.cli import AppGroup

from open311.commands import app_session
from open311.errors import Open311Error

if TYPE_CHECKING:
    from shapely.geometry import MultiPolygon

# Shapefile directories and .zip archives are files to GDAL too; the reader reports a missing one.
FILE = click.Path(path_type=Path)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar's update function for files of more than one batch, else None."""
    from open311.domain.districts import BATCH_SIZE

    if total <= BATCH_SIZE:
        yield None
        return
    with click.progressbar(length=total, label=label) as bar:
        yield bar.update


@click.group("geodata", cls=AppGroup)
def geodata() -> None:
    """District layers (council districts, neighbourhood councils, ...) and the service area.

    Reads GeoJSON, Shapefile, GeoPackage and anything else GDAL reads, in any CRS GDAL and PROJ
    know; stores WGS 84 (EPSG:4326) MultiPolygons in PostGIS.
    """


@geodata.command("import", short_help="Import a boundary file as a district layer.")
@click.argument("file", type=FILE)
@click.option(
    "--layer", "layer_name", required=True, help="Name of the layer to create or replace."
)
@click.option("--jurisdiction", "jurisdiction_id", help="jurisdiction_id (default: the only one).")
@click.option(
    "--name-field",
    default="name",
    show_default=True,
    help="Property holding each district's name; names must be unique and not empty.",
)
@click.option("--title-field", help="Property holding each district's display title.")
@click.option("--title", help="Display title of the layer (kept when not given).")
@click.option(
    "--snap-tolerance-m",
    type=click.FloatRange(min=0),
    help="A point in no district goes to the nearest one within this many metres "
    "(kept when not given; 50 for a new layer).",
)
def import_layer(
    file: Path,
    layer_name: str,
    jurisdiction_id: str | None,
    name_field: str,
    title_field: str | None,
    title: str | None,
    snap_tolerance_m: float | None,
) -> None:
    """Replace the districts of the --layer layer with the polygons of FILE, in one transaction.

    Districts are matched by name: those already present keep their id (and so their crews
    and the requests placed in them), new names are added, names missing from FILE are
    deleted. Invalid polygons are repaired in PostGIS and listed. A file that cannot be read,
    has no features, lacks the name field, repeats a name or holds anything but polygons is
    refused, and nothing changes.
    """
    from open311.domain import districts, jurisdictions
    from open311.geodata.reader import BoundaryFileError, read_features

    try:
        layer_file = read_features(file, name_field, title_field)
    except BoundaryFileError as exc:
        raise click.ClickException(str(exc)) from None
    crs = layer_file.source_crs
    crs_note = f"reprojected from {crs}" if layer_file.reprojected else crs
    click.echo(f"read {len(layer_file.features)} features from {file.name} ({crs_note})")
    source = file.name if not layer_file.reprojected else f"{file.name} ({crs})"
    with app_session() as session:
        try:
            jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
            with _progress(len(layer_file.features), "writing districts") as advance:
                report = districts.replace_layer(
                    session,
                    jurisdiction,
                    layer_name,
                    layer_file.features,
                    title=title,
                    source=source,
                    snap_tolerance_m=snap_tolerance_m,
                    progress=advance,
                )
            session.commit()
        except Open311Error as exc:
            raise click.ClickException(str(exc)) from None
        total = report.inserted + report.updated
        click.echo(
            f"layer {layer_name} of {jurisdiction.jurisdiction_id}: {total} districts "
            f"({report.inserted} new, {report.updated} updated, {report.deleted} deleted, "
            f"{report.repaired} repaired)"
        )
        for name in report.deleted_names:
            click.echo(f"  deleted: {name}")
        for repair in report.repairs:
            click.echo(f"  repaired: {repair.name}: {repair.reason}")


@geodata.command("layers", short_help="List the layers and the service area.")
@click.option("--jurisdiction", "jurisdiction_id", help="jurisdiction_id (default: the only one).")
def list_layers(jurisdiction_id: str | None) -> None:
    """List the district layers with their number of districts, and the service area's size."""
    from open311.db import district_queries
    from open311.domain import jurisdictions

    with app_session() as session:
        try:
            jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
        except Open311Error as exc:
            raise click.ClickException(str(exc)) from None
        found = district_queries.find_boundary_layers_with_counts(session, jurisdiction)
        if not found:
            click.echo(f"no layers in {jurisdiction.jurisdiction_id}")
        for layer, count in found:
            origin = layer.source or f"imported {layer.imported_at:%Y-%m-%d %H:%M:%S} UTC"
            click.echo(
                f"{layer.name}: {count} districts, snap {layer.snap_tolerance_m:g} m, "
                f"title {layer.title or '-'}; source: {origin}"
            )
        size = district_queries.service_area_size(session, jurisdiction)
    if size is None:
        click.echo("service area: none (every point is accepted)")
    else:
        click.echo(f"service area: {size[0] / 1e6:,.1f} km² in {size[1]} polygon(s)")


@geodata.command("service-area", short_help="Set the service area from a layer or a file.")
@click.option("--from-layer", "layer_name", help="Union of this layer's districts.")
@click.option("--file", type=FILE, help="Union of the polygons of this file (any CRS).")
@click.option(
    "--buffer-m",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Grow the area by this many metres (buffered as geography: PostGIS picks a metric "
    "projection suited to the area, so it is metres everywhere).",
)
@click.option("--jurisdiction", "jurisdiction_id", help="jurisdiction_id (default: the only one).")
def service_area(
    layer_name: str | None, file: Path | None, buffer_m: float, jurisdiction_id: str | None
) -> None:
    """Set the service area, where requests are taken: points outside it are refused.

    Give either --from-layer or --file. The result is a valid MultiPolygon in EPSG:4326; a
    buffer of a few tens of metres keeps points on edge streets inside.
    """
    from open311.domain import districts, jurisdictions
    from open311.geodata.reader import BoundaryFileError, read_area

    if (layer_name is None) == (file is None):
        raise click.UsageError("give exactly one of --from-layer and --file")
    polygons: list[MultiPolygon] = []
    if file is not None:
        try:
            polygons = read_area(file).polygons
        except BoundaryFileError as exc:
            raise click.ClickException(str(exc)) from None
    with app_session() as session:
        try:
            jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
            if layer_name is not None:
                area = districts.set_service_area_from_layer(
                    session, jurisdiction, layer_name, buffer_m=buffer_m
                )
            else:
                area = districts.set_service_area(
                    session, jurisdiction, polygons, buffer_m=buffer_m
                )
            session.commit()
        except Open311Error as exc:
            raise click.ClickException(str(exc)) from None
        origin = f"layer {layer_name}" if file is None else file.name
        grown = f" + {buffer_m:g} m" if buffer_m else ""
        click.echo(
            f"service area of {jurisdiction.jurisdiction_id}: {origin}{grown}, "
            f"{area.area_m2 / 1e6:,.1f} km² in {area.parts} polygon(s)"
        )
