"""The map's vector tiles (issue 17): a tile's requests as one range of an index.

`open311_tile_key(location)` is a point's Z-order (Morton) code at zoom 24 of the Web Mercator
tile grid: the bits of its tile column and row at that zoom, interleaved. A tile at any zoom
z <= 24 then holds exactly the keys that share its 2z leading bits, one range of
`ix_service_request_tile`, and a grid cell of an aggregated tile is the key shifted right.
The index carries what a tile shows and filters on (the point, status, service, date, id), so
a tile is an index-only range scan (db/tile_queries.py).

Why: over 1,000,000 requests, a dense z12 tile read through the 2-D GiST index touched 7,200
of the table's pages for its 22,000 requests (its points are scattered through the table) and
took 175-215 ms; the same tile from this index, 40 ms. plpgsql rather than SQL: the function is
computed when a row is written, never by a tile, which reads the keys from the index.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# Each step spreads a number's bits apart (bit i to bit 2i): the masks are 0x0000FFFF0000FFFF,
# 0x00FF00FF00FF00FF, 0x0F0F0F0F0F0F0F0F, 0x3333333333333333 and 0x5555555555555555.
_SPREAD = """
    {v} := ({v} | ({v} << 16)) & 281470681808895;
    {v} := ({v} | ({v} << 8)) & 71777214294589695;
    {v} := ({v} | ({v} << 4)) & 1085102592571150095;
    {v} := ({v} | ({v} << 2)) & 3689348814741910323;
    {v} := ({v} | ({v} << 1)) & 6148914691236517205;"""


def upgrade() -> None:
    op.execute(
        f"""
CREATE FUNCTION open311_tile_key(location geometry) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    lat float8 := least(greatest(ST_Y(location), -85.0511287798066), 85.0511287798066);
    x bigint := least(greatest(floor((ST_X(location) + 180.0) / 360.0 * 16777216.0), 0),
                      16777215);
    y bigint := least(greatest(floor((1.0 - ln(tan(pi() / 4.0 + radians(lat) / 2.0)) / pi())
                                     / 2.0 * 16777216.0), 0), 16777215);
BEGIN
{_SPREAD.format(v="x")}
{_SPREAD.format(v="y")}
    RETURN x | (y << 1);
END
$$"""
    )
    op.execute(
        "CREATE INDEX ix_service_request_tile ON service_request "
        "(jurisdiction_id, open311_tile_key(location)) "
        "INCLUDE (location, status, service_id, requested_datetime, service_request_id) "
        "WHERE location IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_service_request_tile")
    op.execute("DROP FUNCTION open311_tile_key(geometry)")
