"""Bulk open data: GET /open311/v2/exports/requests.{csv,ndjson,geojson}, streamed.

Any window, any size: the same filters as GET requests (README: Open data and area queries),
no 90-day limit and no paging. Rows come from a server-side cursor a batch at a time and go
out as they come, so memory stays flat for millions of rows and `curl > file` just works.

Columns (CSV header; NDJSON items and GeoJSON properties have the same fields, in this order):

    service_request_id, status, status_notes, service_name, service_code, description,
    agency_responsible, service_notice, requested_datetime, updated_datetime,
    expected_datetime, address, address_id, zipcode, lat, long, media_url
    (+ distance, in metres, when lat/long/radius are given)

the public GeoReport fields of GET requests and nothing else: the requester's personal data
(email, names, phone, device and account ids) lives in another table that these queries never
join. CSV is RFC 4180 (UTF-8, CRLF, text fields quoted, empty = no value); datetimes are W3C in
UTC; lat/long WGS84 degrees. A text field that starts with `=`, `+`, `-`, `@`, tab or CR gets a
leading `'` in CSV only (OWASP's rule against CSV injection: a spreadsheet would run it as a
formula); numbers (lat, long, distance) and datetimes are never touched. NDJSON and GeoJSON
carry the text as written. Errors come back as the GeoReport error list in JSON.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any

from flask import Response, g

from open311.api import database, ratelimits
from open311.api.georeport_base import GeoReportBlueprint
from open311.api.schemas import ExportArgs, search_args
from open311.db import search_queries
from open311.domain import jurisdictions, request_search
from open311.wire import geojson, georeport

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson; charset=utf-8",
    "geojson": geojson.CONTENT_TYPE,
}

blp = GeoReportBlueprint(
    "exports",
    __name__,
    description="Open data: every request of any window as CSV, NDJSON or GeoJSON, streamed.",
    path="/exports",
    formats=tuple(CONTENT_TYPES),
    format_name="export format",
    # Errors of an export are a JSON error list, whatever was asked for.
    error_format="json",
)
blp.before_request(ratelimits.limit_exports)


@blp.route("/requests.<fmt>", methods=["GET"])
@blp.arguments(ExportArgs, location="query", as_kwargs=True)
def export_requests(jurisdiction_id: str | None = None, **args: Any) -> Response:
    """Every request matching the filters, oldest first, streamed as a file download."""
    # A session of the export's own rather than the request's: the request's is closed when
    # the view returns, while this one must outlive it, until the last row is sent.
    session = database.export_session()
    try:
        jurisdiction = search_queries.Unresolved(jurisdiction_id)
        search = request_search.plan_export(session, jurisdiction, search_args(args))
        kind: search_queries.ExportKind = g.representation
        batches = search_queries.stream_export(session, jurisdiction, search, kind)
        # The query runs now, in the view: a failure is still an error answer, not a cut file.
        first = next(batches, None)
        if first is None:
            jurisdictions.resolve(session, jurisdiction_id)  # an unknown jurisdiction says so
    except BaseException:
        session.close()
        raise
    chunks = _document(kind, search.near is not None, first, batches)
    body = _Body(chunks, closing=(chunks, batches, session))
    response = Response(body, content_type=CONTENT_TYPES[kind])
    response.headers["Content-Disposition"] = f'attachment; filename="requests.{kind}"'
    return response


class _Body:
    """The file as the WSGI server iterates it, and closes it in every case: after the last
    chunk, when the client hangs up, or without reading it at all (HEAD). A bare generator
    would not do: one never started ignores close(), and would keep its cursor and session."""

    def __init__(self, chunks: Iterator[bytes], closing: tuple[Any, ...]) -> None:
        self._chunks = chunks
        self._closing = closing

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        for resource in self._closing:  # the generators first, then the session under them
            resource.close()


def _document(
    kind: search_queries.ExportKind,
    near: bool,
    first: Sequence[bytes] | None,
    rest: Iterator[Sequence[bytes]],
) -> Generator[bytes, None, None]:
    """The file, batch by batch: the first batch fetched already, the rest as it is read."""
    header = georeport.csv_header(near) if kind == "csv" else None
    if header is not None:
        yield (header + "\r\n").encode("utf-8")
    if kind == "geojson":
        yield geojson.COLLECTION_HEAD
    separator = {"csv": b"\r\n", "ndjson": b"\n", "geojson": b","}[kind]
    batch, started = first, False
    while batch is not None:
        if kind == "geojson":
            yield (separator if started else b"") + separator.join(batch)
        else:
            yield separator.join(batch) + separator
        started = True
        batch = next(rest, None)
    if kind == "geojson":
        yield geojson.COLLECTION_TAIL
