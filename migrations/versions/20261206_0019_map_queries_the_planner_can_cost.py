"""Map queries at any size (issue 16): a space-time index, and a geodesic test the planner
costs as what it is.

`open311_spacetime(location, at)` is a request's point in three dimensions: longitude,
latitude and days since 1970 (an SQL function the planner inlines, so the index's expression
and the query's are the same). `ix_service_request_spacetime`, a 3-D GiST index over it
(PostGIS's n-dimensional operator class, `&&&`), finds the requests of an area within a time
window without reading the area's other years: a newest-first page of a bbox or circle reads
windows of 1, 2, 4, 8... hours back until it is full (search_queries), so its cost follows
the page rather than the area or the table. With only the 2-D index, a 4 km² box cost either
its 19,500 requests read and sorted or 50,000 rows of the time index tested, and ten times the
table cost ten times that.

`open311_area_share(w, s, e, n)` is PostGIS's estimate of the share of service_request whose
location is in a box, from the column's 2-D histogram (what the planner itself estimates `&&`
with), NULL when there are no statistics yet: with the table's size it tells which of the
space-time windows, the GiST index or the time index reads a newest-first page cheapest
(search_queries.reads_windows).

`open311_dwithin(location, long, lat, metres)` is PostGIS's ST_DWithin on geography (the WGS84
spheroid, as `distance` in the API is measured), wrapped so that the planner costs it at 10
rather than ST_DWithin's 10,000. A circle's requests are tested with it only where plain
arithmetic cannot prove a point inside (search_queries.near_scales), a small share of them,
yet the planner charged its full cost to every row and preferred sorting a 1 km circle's
20,000 requests (165 ms) to testing the time index's newest (73 ms). plpgsql, not SQL: an SQL
function would be inlined and its body costed again.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 01:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # date_part('epoch', interval) is immutable where extract(epoch FROM timestamptz) is only
    # stable: so the function may be declared immutable and still be inlined.
    op.execute(
        """
CREATE FUNCTION open311_spacetime(location geometry, at timestamptz) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ST_MakePoint(ST_X(location), ST_Y(location),
                        date_part('epoch', at - timestamptz '1970-01-01 00:00:00+00') / 86400.0)
$$"""
    )
    op.execute(
        "CREATE INDEX ix_service_request_spacetime ON service_request "
        "USING gist (open311_spacetime(location, requested_datetime) gist_geometry_ops_nd) "
        "WHERE location IS NOT NULL"
    )
    op.execute(
        """
CREATE FUNCTION open311_area_share(w float8, s float8, e float8, n float8) RETURNS float8
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN _postgis_selectivity('service_request'::regclass, 'location',
                                ST_MakeEnvelope(w, s, e, n, 4326));
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;  -- no statistics yet (a new or empty table)
END
$$"""
    )
    op.execute(
        """
CREATE FUNCTION open311_dwithin(location geometry, long float8, lat float8, metres float8)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 10 AS $$
BEGIN
    RETURN ST_DWithin(location::geography,
                      ST_SetSRID(ST_MakePoint(long, lat), 4326)::geography, metres);
END
$$"""
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION open311_dwithin(geometry, float8, float8, float8)")
    op.execute("DROP FUNCTION open311_area_share(float8, float8, float8, float8)")
    op.execute("DROP INDEX ix_service_request_spacetime")
    op.execute("DROP FUNCTION open311_spacetime(geometry, timestamptz)")
