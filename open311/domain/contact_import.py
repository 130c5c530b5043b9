"""Call-detail records from a phone system (ACD) as contacts: `open311 contacts import FILE`.

The file is a CSV whose first line names its columns (any order; the README lists them). It is
read as a stream, row by row, and written in batches inside the caller's one transaction: all
or nothing. Every problem is listed by line (the first MAX_LISTED of them) and then nothing is
stored, so a file is fixed and loaded again whole. A call is known by its `call_id` (the
switch's, unique per city): a call imported before is updated when one of its columns changed
(a switch re-exports corrected records, e.g. an ended_at filled in later) and left alone when
not; its links to requests are added, never removed. Memory holds one batch and the set of
call ids seen (to refuse a call repeated in the file), not the file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311.db import contact_queries
from open311.db.models import Contact, Jurisdiction
from open311.domain import contacts
from open311.errors import InvalidInput
from open311.values import ContactChannel, ContactOutcome
from open311.wire.datetimes import parse_w3c

REQUIRED = ("call_id", "channel", "queued_at")
OPTIONAL = (
    "answered_at",
    "ended_at",
    "hold_seconds",
    "abandoned",
    "agent",
    "language",
    "interpreter",
    "outcome",
    "transfer_agency",
    "caller_number",
    "service_request_ids",
)
COLUMNS = (*REQUIRED, *OPTIONAL)
BATCH = 1000
MAX_LISTED = 100
MAX_CALL_ID = 100
TRUE = frozenset({"true", "yes", "y", "1", "t"})
FALSE = frozenset({"false", "no", "n", "0", "f", ""})
_SPACED_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2})")


@dataclass
class ImportReport:
    """What an import did: rows read, calls new, updated and unchanged."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


@dataclass
class _Pending:
    line: int
    row: dict[str, Any]
    requests: list[str]


class _Problems:
    """Problems by line: the first MAX_LISTED kept (in line order), all counted."""

    def __init__(self) -> None:
        self.listed: list[tuple[int, str]] = []
        self.count = 0

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append((line, message))

    def raise_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.listed)
        tail = [f"... and {more} more problems"] if more else []
        listed = [f"line {line}: {message}" for line, message in sorted(self.listed)]
        raise InvalidInput(*listed, *tail)


def _moment(name: str, text: str, zone: ZoneInfo) -> datetime | None:
    """A time as the switch writes it: ISO 8601 with a zone, or without one in the city's
    local time; a space may stand for the T."""
    text = text.strip()
    if not text:
        return None
    try:
        return parse_w3c(_SPACED_TIME.sub(r"\1T\2", text), zone)
    except ValueError:
        raise InvalidInput(f"{name}: {text[:40]!r} is not a date and time") from None


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InvalidInput(f"{name}: {text[:20]!r} is not true or false")


def _choice(name: str, text: str, kind: type[ContactChannel] | type[ContactOutcome]) -> Any:
    value = text.strip().lower()
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(item.value for item in kind)
        raise InvalidInput(f"{name}: {text[:40]!r} is not one of {allowed}") from None


def _seconds(text: str) -> int:
    value = text.strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) > contacts.MAX_HOLD_SECONDS:
        raise InvalidInput(f"hold_seconds: whole seconds, 0 to {contacts.MAX_HOLD_SECONDS}")
    return int(value)


def _row(
    record: dict[str, str],
    city: Jurisdiction,
    agents: dict[str, int],
    zone: ZoneInfo,
    now: datetime,
) -> tuple[dict[str, Any], list[str]]:
    """One record as contact columns and the public ids of its requests; InvalidInput naming
    the column otherwise. Checked by the same rules as a contact staff record."""
    cell = {name: (record.get(name) or "") for name in COLUMNS}
    call_id = cell["call_id"].strip()
    if not call_id or len(call_id) > MAX_CALL_ID:
        raise InvalidInput(f"call_id: required, at most {MAX_CALL_ID} characters")
    channel = _choice("channel", cell["channel"], ContactChannel)
    if channel is None:
        raise InvalidInput("channel: required")
    queued = _moment("queued_at", cell["queued_at"], zone)
    if queued is None:
        raise InvalidInput("queued_at: required")
    agent = cell["agent"].strip()
    staff_user_id = None
    if agent:
        staff_user_id = agents.get(agent.lower())
        if staff_user_id is None:
            raise InvalidInput(f"agent: no staff user {agent[:64]!r} works for this city")
    transfer = cell["transfer_agency"].strip() or None
    if transfer is not None and len(transfer) > contacts.MAX_TRANSFER_AGENCY:
        raise InvalidInput(f"transfer_agency: at most {contacts.MAX_TRANSFER_AGENCY} characters")
    contact = Contact(
        channel=channel,
        language=contacts.language_tag("language", cell["language"]),
        interpreter=_flag("interpreter", cell["interpreter"]),
        queued_at=queued,
        answered_at=_moment("answered_at", cell["answered_at"], zone),
        ended_at=_moment("ended_at", cell["ended_at"], zone),
        hold_seconds=_seconds(cell["hold_seconds"]),
        abandoned=_flag("abandoned", cell["abandoned"]),
        outcome=_choice("outcome", cell["outcome"], ContactOutcome),
        transfer_agency=transfer,
        caller_number=contacts.caller_number("caller_number", cell["caller_number"]),
    )
    contacts.check(contact, now)
    requests = cell["service_request_ids"].split()
    if len(requests) > contacts.MAX_LINKS:
        raise InvalidInput(f"service_request_ids: at most {contacts.MAX_LINKS}")
    row = {name: getattr(contact, name) for name in contact_queries.IMPORTED}
    row |= {"jurisdiction_id": city.id, "external_id": call_id, "staff_user_id": staff_user_id}
    return row, requests


def check_header(names: Iterable[str] | None) -> None:
    """The columns: the required ones present, none unknown (a typo would lose a column)."""
    given = [name.strip() for name in names or []]
    missing = [name for name in REQUIRED if name not in given]
    unknown = [name for name in given if name not in COLUMNS]
    problems = []
    if missing:
        problems.append(f"line 1: missing columns: {', '.join(missing)}")
    if unknown:
        problems.append(
            f"line 1: unknown columns: {', '.join(n[:40] for n in unknown)} "
            f"(known: {', '.join(COLUMNS)})"
        )
    if problems:
        raise InvalidInput(*problems)


def import_calls(
    session: Session, city: Jurisdiction, lines: Iterable[str], now: datetime
) -> ImportReport:
    """Load call-detail records (CSV text lines, header first) into `city`'s contacts; see the
    module's docstring. Raises InvalidInput listing every problem by line, after which the
    caller must roll back (batches may have been written). Flushes; the caller commits."""
    reader = csv.DictReader(lines)
    check_header(reader.fieldnames)
    zone = ZoneInfo(city.time_zone)
    agents = contact_queries.staff_user_ids_of_city(session, city.id)
    problems = _Problems()
    seen: set[str] = set()
    report = ImportReport()
    batch: list[_Pending] = []

    def flush() -> None:
        known = contact_queries.requests_by_public_id(
            session, city.id, (public_id for item in batch for public_id in item.requests)
        )
        for item in batch:
            for public_id in item.requests:
                if public_id not in known:
                    problems.add(item.line, f"service_request_ids: no request {public_id[:64]}")
        if not problems.count:
            links = {
                item.row["external_id"]: [known[public_id] for public_id in item.requests]
                for item in batch
                if item.requests
            }
            done = contact_queries.upsert_calls(session, [item.row for item in batch], links)
            report.inserted += done.inserted
            report.updated += done.updated
        batch.clear()

    for record in reader:
        line = reader.line_num
        report.rows += 1
        if None in record:
            problems.add(line, "more cells than columns")
            continue
        try:
            row, requests = _row(record, city, agents, zone, now)
        except InvalidInput as error:
            problems.add(line, "; ".join(error.problems))
            continue
        if row["external_id"] in seen:
            problems.add(line, f"call_id: {row['external_id'][:40]} repeated in the file")
            continue
        seen.add(row["external_id"])
        batch.append(_Pending(line, row, requests))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    problems.raise_any()
    session.flush()
    return report
