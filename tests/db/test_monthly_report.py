"""The monthly report: its figures agree with the raw rows (recomputed here in plain Python from
the same requests and contacts, in Los Angeles' local month), both formats render them, and
`open311 report` writes them for a city and month, refusing bad input without a traceback."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from open311.cli import main
from open311.db.models import Contact, Jurisdiction
from open311.db.session import make_engine, make_session_factory
from open311.domain import hotspots, monthly_report
from open311.errors import InvalidInput
from open311.values import ContactChannel, ContactOutcome, Status
from open311.wire import monthly_report as page
from tests.factories import make_jurisdiction, make_request, make_service
from tests.helpers import scratch_database

LA = ZoneInfo("America/Los_Angeles")
NOVEMBER = date(2026, 11, 1)
START = datetime(2026, 11, 1, tzinfo=LA).astimezone(UTC)
END = datetime(2026, 12, 1, tzinfo=LA).astimezone(UTC)
PREVIOUS = datetime(2026, 10, 1, tzinfo=LA).astimezone(UTC)
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA).astimezone(UTC)


# (service, requested, closed, expected): around the month's local edges, late and on time,
# open across the end, closed before the previous month (counted nowhere).
REQUESTS = [
    ("SAN", local(2026, 11, 3, 9), local(2026, 11, 5, 9), local(2026, 11, 10)),
    ("SAN", local(2026, 11, 4, 9), local(2026, 11, 20, 9), local(2026, 11, 10)),
    ("SAN", local(2026, 10, 15, 9), None, None),
    ("POT", local(2026, 10, 31, 23, 30), local(2026, 11, 2, 8), None),
    ("POT", local(2026, 11, 30, 23, 30), None, local(2026, 12, 3)),
    ("POT", local(2026, 12, 1, 0, 30), None, None),
    ("GRA", local(2026, 9, 1, 9), local(2026, 10, 5, 9), None),
    ("GRA", local(2026, 11, 10, 9), local(2026, 12, 2, 9), local(2026, 12, 5)),
    ("GRA", local(2026, 8, 1, 9), local(2026, 9, 1, 9), None),
    ("GRA", local(2026, 10, 2, 9), local(2026, 10, 3, 9), None),
]
# A hotspot: six pot-hole reports within a few metres, in November.
HOTSPOT = [(34.0522 + i * 0.00002, -118.2437) for i in range(6)]
GROUPS = {"SAN": "Sanitation", "POT": "Streets", "GRA": "Graffiti removal"}


@pytest.fixture
def city(db: Session) -> Jurisdiction:
    city = make_jurisdiction(db, time_zone="America/Los_Angeles", default_locale="en")
    services = {
        "SAN": make_service(db, city, "SAN", group="Sanitation"),
        "POT": make_service(db, city, "POT", group="Streets"),
        # No group: the report names it by the service.
        "GRA": make_service(db, city, "GRA", group=None, service_name="Graffiti removal"),
    }
    for n, (code, requested, closed, expected) in enumerate(REQUESTS):
        make_request(
            db,
            services[code],
            lat=33.9 + n * 0.01,
            long=-118.4,
            requested_datetime=requested,
            updated_datetime=closed or requested,
            status=Status.closed if closed else Status.open,
            expected_datetime=expected,
        )
    for n, (lat, long) in enumerate(HOTSPOT):
        at = local(2026, 11, 15 + n, 10)
        make_request(
            db, services["POT"], lat=lat, long=long, requested_datetime=at, updated_datetime=at
        )
    return city


def all_requests() -> list[tuple[str, datetime, datetime | None, datetime | None]]:
    hotspot = [("POT", local(2026, 11, 15 + n, 10), None, None) for n in range(len(HOTSPOT))]
    return REQUESTS + hotspot


def expected_volume(group: str, rows) -> page.GroupVolume:
    def within(moment, start, end):
        return moment is not None and start <= moment < end

    closed_in = [r for r in rows if within(r[2], START, END)]
    with_deadline = [r for r in closed_in if r[3] is not None]
    backlog = [r for r in rows if r[1] < END and (r[2] is None or r[2] >= END)]
    ages = [(END - r[1]).total_seconds() / 86400 for r in backlog]
    return page.GroupVolume(
        group=group,
        opened=sum(within(r[1], START, END) for r in rows),
        opened_previous=sum(within(r[1], PREVIOUS, START) for r in rows),
        closed=len(closed_in),
        closed_previous=sum(within(r[2], PREVIOUS, START) for r in rows),
        on_time_pct=(
            round(sum(r[2] <= r[3] for r in with_deadline) * 100 / len(with_deadline), 1)
            if with_deadline
            else None
        ),
        backlog=len(backlog),
        backlog_median_age_days=round(statistics.median(ages), 1) if ages else None,
    )


def make_contacts(db: Session, city: Jurisdiction) -> list[Contact]:
    """Ten November contacts (phone and chat, English and Spanish, two abandoned, one with an
    interpreter) and one in October, which the report leaves out."""
    contacts = []
    for n in range(10):
        queued = local(2026, 11, 2 + n, 10)
        abandoned = n in (3, 7)
        answered = None if abandoned else queued + timedelta(seconds=10 * n)
        contacts.append(
            Contact(
                jurisdiction_id=city.id,
                channel=ContactChannel.phone if n % 3 else ContactChannel.chat,
                language="es" if n % 4 == 0 else "en",
                interpreter=n == 4,
                queued_at=queued,
                answered_at=answered,
                ended_at=None if answered is None else answered + timedelta(minutes=n + 1),
                hold_seconds=0 if answered is None else 5 * n,
                abandoned=abandoned,
                outcome=None
                if abandoned
                else (ContactOutcome.information if n % 2 else ContactOutcome.request),
            )
        )
    october = local(2026, 10, 20, 10)
    contacts.append(
        Contact(jurisdiction_id=city.id, channel=ContactChannel.phone, queued_at=october)
    )
    db.add_all(contacts)
    db.flush()
    return contacts[:-1]


def build(db: Session, city: Jurisdiction) -> page.MonthlyReport:
    return monthly_report.build(db, city, NOVEMBER, now=NOW, service_level_s=30)


def test_request_figures_agree_with_the_rows(db, city):
    report = build(db, city)
    rows = all_requests()
    assert report.requests.total == expected_volume("all", rows)
    by_code = {code: [r for r in rows if r[0] == code] for code in GROUPS}
    expected = [expected_volume(GROUPS[code], by_code[code]) for code in GROUPS]
    assert sorted(report.requests.by_group, key=lambda g: g.group) == sorted(
        expected, key=lambda g: g.group
    )
    # Largest first by requests opened.
    assert [g.opened for g in report.requests.by_group] == sorted(
        (g.opened for g in expected), reverse=True
    )
    # The request filed at 23:30 on 30 November, local time, is November's; 00:30 on
    # 1 December is not.
    assert report.requests.total.opened == 4 + len(HOTSPOT)


def test_requests_per_local_day(db, city):
    report = build(db, city)
    days = [d.day for d in report.requests.per_day]
    assert days[0] == date(2026, 11, 1) and days[-1] == date(2026, 11, 30) and len(days) == 30
    counts = {d.day: d.values for d in report.requests.per_day}
    assert counts[date(2026, 11, 30)] == (1, 0)
    assert counts[date(2026, 11, 2)] == (0, 1)
    assert sum(v[0] for v in counts.values()) == report.requests.total.opened
    assert sum(v[1] for v in counts.values()) == report.requests.total.closed


def test_call_figures_agree_with_the_rows(db, city):
    contacts = make_contacts(db, city)
    calls = build(db, city).calls
    answered = [c for c in contacts if c.answered_at is not None]
    assert calls.offered == len(contacts) == 10
    assert calls.answered == len(answered) == 8
    assert calls.abandoned == 2
    assert calls.abandoned_pct == 20.0
    waits = [(c.answered_at - c.queued_at).total_seconds() for c in answered]
    assert calls.asa_seconds == round(statistics.mean(waits), 1)
    within = sum(w <= 30 for w in waits)
    assert calls.service_level_pct == round(within * 100 / len(contacts), 1)
    handle = [(c.ended_at - c.answered_at).total_seconds() for c in answered]
    assert calls.aht_seconds == round(statistics.mean(handle), 1)
    assert calls.avg_hold_seconds == round(statistics.mean(c.hold_seconds for c in answered), 1)
    information = sum(c.outcome == ContactOutcome.information for c in contacts)
    assert calls.information_pct == round(information * 100 / len(answered), 1)
    assert calls.interpreter == 1 and calls.interpreter_pct == 10.0
    channels = {c.name: (c.offered, c.answered, c.abandoned) for c in calls.by_channel}
    for channel in (ContactChannel.phone, ContactChannel.chat):
        mine = [c for c in contacts if c.channel == channel]
        assert channels[channel.value] == (
            len(mine),
            sum(c.answered_at is not None for c in mine),
            sum(c.abandoned for c in mine),
        )
    languages = {c.name: c.offered for c in calls.by_language}
    assert languages == {"en": 7, "es": 3}
    assert sum(d.values[0] for d in calls.per_day) == 10
    assert [d.day for d in calls.per_day][:2] == [date(2026, 11, 1), date(2026, 11, 2)]
    assert calls.top_articles == []


def test_hotspot_of_the_month(db, city):
    report = build(db, city)
    assert len(report.hotspots) == 1
    (spot,) = report.hotspots
    assert spot.service_name == "Service POT"
    assert spot.requests == len(HOTSPOT) and spot.other_services == 0
    assert spot.first_requested == local(2026, 11, 15, 10)
    assert abs(spot.latitude - 34.0523) < 0.001


def test_a_month_too_big_to_cluster_still_reports(db, city, monkeypatch):
    monkeypatch.setattr(hotspots, "MAX_REQUESTS", 3)
    report = build(db, city)
    assert report.hotspots == []
    assert report.notes[-1].startswith("Hotspots not computed: more than 3 requests match")
    assert report.requests.total.opened == 4 + len(HOTSPOT)
    assert "Hotspots not computed" in page.render_html(report).decode()


def test_an_empty_month_renders(db):
    city = make_jurisdiction(db, time_zone="America/Los_Angeles", default_locale="en")
    report = build(db, city)
    assert report.requests.total.opened == 0 and report.requests.by_group == []
    assert report.calls.offered == 0 and report.calls.asa_seconds is None
    assert report.hotspots == []
    html = page.render_html(report).decode()
    assert "No requests this month or the month before." in html
    assert page.render_pdf(report).startswith(b"%PDF-")


def test_both_formats_hold_the_figures(db, city):
    make_contacts(db, city)
    report = build(db, city)
    html = page.render_html(report).decode()
    assert "Los Angeles: 311 in November 2026" in html
    assert "Graffiti removal" in html and "Service POT" in html
    assert html.count("<svg") == len(page.report_charts(report))
    # Self-contained: nothing fetched from elsewhere.
    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\((?!#)", html)
    assert not re.search(r'(src|href)="(?!#)', html)
    pdf = page.render_pdf(report)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 8
    assert page.render_pdf(report) == pdf


def test_a_month_not_begun_and_bad_months(db, city):
    with pytest.raises(InvalidInput, match="has not begun"):
        monthly_report.build(db, city, date(2027, 1, 1), now=NOW, service_level_s=30)
    for text in ("2026-13", "2026-1", "November", "2026-11-01", ""):
        with pytest.raises(InvalidInput, match="YYYY-MM"):
            monthly_report.parse_month(text)
    assert monthly_report.parse_month(" 2026-02 ") == date(2026, 2, 1)


def test_the_current_month_so_far(db, city):
    report = monthly_report.build(db, city, date(2026, 12, 1), now=NOW, service_level_s=30)
    assert report.requests.total.opened == 1  # 00:30 on 1 December
    assert report.requests.total.opened_previous == 4 + len(HOTSPOT)


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            city = make_jurisdiction(session, time_zone="America/Los_Angeles")
            service = make_service(session, city, "POT", group="Pot <hole> & co")
            at = local(2026, 11, 3, 9)
            make_request(session, service, requested_datetime=at, updated_datetime=at)
            session.commit()
        engine.dispose()
        yield scratch


def run(url: str, *args: str):
    return CliRunner().invoke(main, ["report", *args], env={"DATABASE_URL": url})


def test_report_command_writes_pdf_and_html(url, tmp_path: Path):
    pdf = tmp_path / "november.pdf"
    result = run(url, "--month", "2026-11", "--format", "pdf", "--output", str(pdf))
    assert result.exit_code == 0, result.output
    assert f"{pdf}: pdf" in result.output and "Los Angeles, 2026-11" in result.output
    assert pdf.read_bytes().startswith(b"%PDF-")
    html = tmp_path / "november.html"
    result = run(url, "--month", "2026-11", "--format", "html", "--jurisdiction", "lacity.org",
                 "--output", str(html))  # fmt: skip
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert "Pot &lt;hole&gt; &amp; co" in text and "Pot <hole>" not in text
    stdout = run(url, "--month", "2026-11", "--format", "html", "--output", "-")
    assert stdout.exit_code == 0 and stdout.output.startswith("<!DOCTYPE html>")


def test_report_command_default_name(url, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(url, "--month", "2026-11")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report-lacity.org-2026-11.pdf").read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "Error: month must be YYYY-MM"),
        (["--month", "2999-01"], "Error: 2999-01 has not begun"),
        (["--month", "2026-11", "--jurisdiction", "nowhere.example"], "Error: jurisdiction_id"),
        (["--format", "docx"], "Invalid value for '--format'"),
    ],
)
def test_report_command_refuses_bad_input(url, tmp_path: Path, args, message):
    result = run(url, *args, "--output", str(tmp_path / "out"))
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
