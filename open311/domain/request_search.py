"""GET requests with the area, paging and change-feed extensions: which window, page and filters.

The rules, exactly (README "Open data and area queries" says the same to clients):

- `service_request_id` overrides every other filter, as the spec says: the listed requests, at
  most 1000, newest first, no next link; window, area, paging and sort arguments are ignored
  (still validated). `extensions`, the format and `callback` still apply.
- The standard query (none of the parameters below; `sort` and `extensions` may be given)
  keeps §11 as it was: no dates means the last 90 days, one bound opens 90 days from or to it,
  a wider span is a 400; at most 1000, newest first.
- Any paging parameter (`page`, `page_size`, `cursor`) or any filter of the extensions (`bbox`,
  `lat`/`long`/`radius`, `district`, `agency_responsible`, `crew`, `updated_after`,
  `updated_before`, `q`) lifts the 90-day window (digest §11: "paging extensions lift it"): no
  default dates, and `start_date`/`end_date` may span any range (end before start stays a 400).
- Page size: `page_size` (1..1000) when given, else 50 when paging, else 1000.
- Paging modes: `page` (1-based, offset paging; past the end is an empty list; its next link
  is page+1, or a cursor once page+1 would pass MAX_PAGED_ROWS); `page` x `page_size` beyond
  MAX_PAGED_ROWS is a 400 that points to the cursor (an offset makes the database read and
  throw away every row before it, so deep pages cost ever more); `cursor` (keyset: the rows
  after the previous page's last one, in the same sort; a cursor made for another sort is a
  400); `page` with `cursor` is a 400. Without `page`,
  every list answer that has more rows links the next page with a cursor, so the standard
  query, `page_size` alone and cursor pages all continue by keyset; the standard query's next
  link pins the window it used (`start_date`/`end_date`), so following it lists that window.
- X-Total-Count: on `page=N` pages only (offset paging is what page counts are for): exact
  when at most 10,000 requests match, else left out; free when the page ends the list, else one
  capped count. Keyset paging (`page_size` alone, cursors) and the standard query never pay
  for a count: over a large area it would cost as much as the page itself.
- `q` has at most MAX_QUERY_WORDS words (each is one more condition on the text index).
- Requests of blackbox services are in none of these answers (lists, by id, counts, exports)
  unless the settings publish them (domain/publication.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NoReturn

from sqlalchemy.orm import Session

from open311 import clock
from open311.db import search_queries
from open311.db.models import Jurisdiction
from open311.domain import jurisdictions, publication
from open311.domain.requests_window import MAX_RESULTS, as_utc, standard_window
from open311.errors import InvalidInput
from open311.i18n import _
from open311.values import Status

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = MAX_RESULTS
MAX_RADIUS_M = 50_000.0
TOTAL_COUNT_CAP = 10_000
# Offset paging reaches this many rows at most (page x page_size); cursors go on beyond.
MAX_PAGED_ROWS = 10_000
MAX_QUERY_WORDS = 16
DEFAULT_SORT = search_queries.Sort("requested_datetime", descending=True)
# Where the previous page ended: (sort name such as "-requested_datetime", sort key, row id).
Cursor = tuple[str, datetime | float, int]
EXPORT_SORT = search_queries.Sort("requested_datetime", descending=False)


@dataclass(frozen=True)
class SearchArgs:
    """GET requests' arguments, each already well-formed (the API's schema checked types and
    ranges); what is left to decide needs the rules above or the database."""

    service_request_ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float, float] | None = None  # lat, long, radius in metres
    district: str | None = None
    layer: str | None = None
    agency: str | None = None
    crew: str | None = None
    text: str | None = None
    sort: str | None = None
    page: int | None = None
    page_size: int | None = None
    cursor: Cursor | None = None
    extensions: bool = False

    @property
    def paged(self) -> bool:
        return self.page is not None or self.page_size is not None or self.cursor is not None

    @property
    def extended(self) -> bool:
        """Whether an extension filter is given (one that lifts the 90-day window)."""
        return any(
            value is not None
            for value in (
                self.bbox,
                self.near,
                self.district,
                self.agency,
                self.crew,
                self.updated_after,
                self.updated_before,
                self.text,
            )
        )


@dataclass(frozen=True)
class Paging:
    """How a list answer is paged, for its Link and X-* headers."""

    mode: Literal["ids", "standard", "page", "cursor"]
    page: int = 1
    count_total: bool = False
    # The window the standard query used: the next link repeats it as explicit dates, since
    # the cursor it carries lifts the default.
    window: tuple[datetime, datetime] | None = field(default=None)


def parse_sort(text: str | None) -> search_queries.Sort:
    if not text:
        return DEFAULT_SORT
    name = text.removeprefix("-")
    if name not in ("requested_datetime", "updated_datetime", "distance"):
        raise InvalidInput(_("sort: %(sort)s is not a sort order", sort=text))
    return search_queries.Sort(name, descending=text.startswith("-"))  # type: ignore[arg-type]


def plan(
    session: Session,
    jurisdiction: Jurisdiction | search_queries.Unresolved,
    args: SearchArgs,
    now: datetime | None = None,
) -> tuple[search_queries.RequestSearch, Paging]:
    """The database search and the paging of one GET requests, by the module's rules.

    The jurisdiction may be left for the statements to resolve (search_queries.Unresolved): a
    name that finds nothing then resolves it first, so a wrong jurisdiction_id is reported as such.
    """
    if args.service_request_ids:
        search = search_queries.RequestSearch(
            service_request_ids=args.service_request_ids,
            limit=MAX_RESULTS,
            extensions=args.extensions,
            blackbox=publication.publishes_blackbox(session),
        )
        return search, Paging("ids")
    sort = parse_sort(args.sort)
    filters = _filters(session, jurisdiction, args, sort)
    window = None
    if args.paged or args.extended:
        start, end = as_utc(args.start), as_utc(args.end)
        if start is not None and end is not None and end < start:
            raise InvalidInput(_("end_date is earlier than start_date"))
    else:
        start, end = window = standard_window(
            start=args.start, end=args.end, now=now or clock.now()
        )
    limit = args.page_size or (DEFAULT_PAGE_SIZE if args.paged else MAX_RESULTS)
    offset, after = 0, None
    if args.page is not None and args.cursor is not None:
        raise InvalidInput(_("page: use either page or cursor, not both"))
    if args.page is not None:
        if not within_paged_rows(args.page, limit):
            raise InvalidInput(
                _(
                    "page: page x page_size may reach row %(most)s at most (here %(row)s); to "
                    "go further, follow the Link header (rel=next), which continues with a cursor",
                    most=format(MAX_PAGED_ROWS, ","),
                    row=format(args.page * limit, ","),
                )
            )
        offset = (args.page - 1) * limit
        paging = Paging("page", page=args.page, count_total=True)
    elif args.cursor is not None:
        cursor_sort, key, row_id = args.cursor
        if cursor_sort != sort.name:
            raise InvalidInput(
                _(
                    "cursor: it continues sort=%(continued)s, not sort=%(asked)s; "
                    "follow the Link header of the previous page",
                    continued=cursor_sort,
                    asked=sort.name,
                )
            )
        after = (key, row_id)
        paging = Paging("cursor")
    elif args.page_size is not None:
        paging = Paging("cursor")
    else:
        paging = Paging("standard", window=window)
    search = search_queries.RequestSearch(
        **filters,
        start=start,
        end=end,
        sort=sort,
        limit=limit,
        offset=offset,
        after=after,
        extensions=args.extensions,
        blackbox=publication.publishes_blackbox(session),
    )
    return search, paging


def within_paged_rows(page: int, page_size: int) -> bool:
    """Whether offset paging may serve `page` (see MAX_PAGED_ROWS)."""
    return page * page_size <= MAX_PAGED_ROWS


def plan_export(
    session: Session, jurisdiction: Jurisdiction | search_queries.Unresolved, args: SearchArgs
) -> search_queries.RequestSearch:
    """An export: the same filters with no default window and no 90-day limit; oldest first
    unless `sort` says otherwise. `service_request_id` overrides the rest, as in GET requests."""
    if args.service_request_ids:
        return search_queries.RequestSearch(
            service_request_ids=args.service_request_ids,
            sort=EXPORT_SORT,
            blackbox=publication.publishes_blackbox(session),
        )
    sort = parse_sort(args.sort) if args.sort else EXPORT_SORT
    filters = _filters(session, jurisdiction, args, sort)
    start, end = as_utc(args.start), as_utc(args.end)
    if start is not None and end is not None and end < start:
        raise InvalidInput(_("end_date is earlier than start_date"))
    return search_queries.RequestSearch(
        **filters,
        start=start,
        end=end,
        sort=sort,
        blackbox=publication.publishes_blackbox(session),
    )


def single(
    session: Session, service_request_id: str, extensions: bool
) -> search_queries.RequestSearch:
    """GET requests/{id}: the one request, by the same renderer as lists (a request the public
    reads leave out, domain/publication.py, is not found, like an unknown id)."""
    return search_queries.RequestSearch(
        service_request_ids=(service_request_id,),
        limit=1,
        extensions=extensions,
        blackbox=publication.publishes_blackbox(session),
    )


def next_cursor(search: search_queries.RequestSearch, page: search_queries.Page) -> Cursor | None:
    if not page.more or page.last is None:
        return None
    key, row_id = page.last
    return (search.sort.name, key, row_id)


def total_count(
    session: Session,
    jurisdiction: Jurisdiction | search_queries.Unresolved,
    search: search_queries.RequestSearch,
    paging: Paging,
    page: search_queries.Page,
) -> int | None:
    """X-Total-Count: exact up to TOTAL_COUNT_CAP, None beyond it or where it is not given.
    A page that ends the list and holds rows tells the total without counting."""
    if not paging.count_total:
        return None
    if not page.more and (page.items or search.offset == 0):
        return search.offset + len(page.items)
    counted = search_queries.count_matching(session, jurisdiction, search, TOTAL_COUNT_CAP + 1)
    return counted if counted <= TOTAL_COUNT_CAP else None


def _filters(
    session: Session,
    jurisdiction: Jurisdiction | search_queries.Unresolved,
    args: SearchArgs,
    sort: search_queries.Sort,
) -> dict[str, object]:
    """The filters of `args` as RequestSearch fields, names resolved to ids (400 when unknown
    or ambiguous)."""
    if args.updated_after and args.updated_before and args.updated_before <= args.updated_after:
        raise InvalidInput(_("updated_before must be later than updated_after"))
    near = None
    if args.near is not None:
        lat, long, radius = args.near
        near = search_queries.Near(lat, long, radius)
    if sort.field == "distance" and near is None:
        raise InvalidInput(_("sort: distance needs lat, long and radius"))
    if args.text is not None and len(args.text.split()) > MAX_QUERY_WORDS:
        raise InvalidInput(_("q: at most %(count)s words", count=MAX_QUERY_WORDS))
    return {
        "service_codes": args.service_codes,
        "statuses": args.statuses,
        "updated_after": as_utc(args.updated_after),
        "updated_before": as_utc(args.updated_before),
        "bbox": search_queries.BBox(*args.bbox) if args.bbox is not None else None,
        "near": near,
        "district_ids": _district_ids(session, jurisdiction, args.district, args.layer),
        "agency_names": _agency_names(session, jurisdiction, args.agency),
        "crew_ids": _crew_ids(session, jurisdiction, args.crew),
        "text": args.text,
    }


def _district_ids(
    session: Session,
    jurisdiction: Jurisdiction | search_queries.Unresolved,
    district: str | None,
    layer: str | None,
) -> tuple[int, ...]:
    if district is None:
        if layer is not None:
            raise InvalidInput(_("layer: says which layer a district is in; give district too"))
        return ()
    found = search_queries.find_districts_by_ref(session, jurisdiction, district, layer)
    if not found:
        if layer is not None and not search_queries.find_layers_by_ref(
            session, jurisdiction, layer
        ):
            _unknown(
                session,
                jurisdiction,
                _("layer: %(layer)s is not a boundary layer here", layer=layer),
            )
        problem = (
            _("district: %(district)s is not a district", district=district)
            if layer is None
            else _(
                "district: %(district)s is not a district in layer %(layer)s",
                district=district,
                layer=layer,
            )
        )
        _unknown(session, jurisdiction, problem)
    if len(found) > 1:
        layers_named = ", ".join(name for _id, _layer, name in found)
        raise InvalidInput(
            _(
                "district: %(district)s names districts in several layers (%(layers)s); "
                "give layer as well",
                district=district,
                layers=layers_named,
            )
        )
    return (found[0][0],)


def _agency_names(
    session: Session, jurisdiction: Jurisdiction | search_queries.Unresolved, agency: str | None
) -> tuple[str, ...]:
    if agency is None:
        return ()
    names = search_queries.find_agency_names(session, jurisdiction, agency)
    if not names:
        _unknown(
            session,
            jurisdiction,
            _("agency_responsible: %(agency)s is not an agency here", agency=agency),
        )
    return tuple(names)


def _crew_ids(
    session: Session, jurisdiction: Jurisdiction | search_queries.Unresolved, crew: str | None
) -> tuple[int, ...]:
    if crew is None:
        return ()
    found = search_queries.find_crews_by_ref(session, jurisdiction, crew)
    if not found:
        _unknown(
            session, jurisdiction, _("crew: %(crew)s is not a crew of this jurisdiction", crew=crew)
        )
    if len(found) > 1:
        agencies = ", ".join(agency for _id, agency in found)
        raise InvalidInput(
            _(
                "crew: code %(crew)s is used by crews of several agencies (%(agencies)s); "
                "give the crew's id",
                crew=crew,
                agencies=agencies,
            )
        )
    return (found[0][0],)


def _unknown(
    session: Session, jurisdiction: Jurisdiction | search_queries.Unresolved, problem: str
) -> NoReturn:
    """A name found nothing: first make sure the jurisdiction itself is right (its own 404 or
    400), then say which name is unknown."""
    if isinstance(jurisdiction, search_queries.Unresolved):
        jurisdictions.resolve(session, jurisdiction.jurisdiction_id)
    raise InvalidInput(problem)
