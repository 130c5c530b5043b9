"""The monthly report a 311 director reads, as a self-contained HTML page or a PDF.

The figures arrive as plain dataclasses (domain/monthly_report.py fills them from the
database); this module only lays them out, so it is tested without a database. Each section
has its table and its chart, drawn by wire/charts.py: inline SVG in the HTML (no external CSS,
script or font: the file can be mailed or archived as it is), the same Figures on the PDF's
pages through matplotlib's PdfPages (no other PDF library). The HTML is rendered by Jinja2 with
autoescaping, so a service name or an article title is always text, never markup.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from open311.wire import charts

FORMATS = ("html", "pdf")
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
# Groups shown by name in tables and charts; the rest are summed as "other" in the charts.
TOP_GROUPS = 12


@dataclass(frozen=True)
class GroupVolume:
    """One service group's requests in the month and the month before."""

    group: str
    opened: int
    opened_previous: int
    closed: int
    closed_previous: int
    on_time_pct: float | None  # of those closed in the month with an expected time
    backlog: int  # open at the month's end
    backlog_median_age_days: float | None


@dataclass(frozen=True)
class DayCount:
    day: date
    values: tuple[int, ...]


@dataclass(frozen=True)
class RequestFigures:
    """The city's requests: totals (group "all") and by service group, largest first."""

    total: GroupVolume
    by_group: list[GroupVolume]
    per_day: list[DayCount]  # values: (opened, closed)


@dataclass(frozen=True)
class ChannelCount:
    name: str
    offered: int
    answered: int
    abandoned: int
    interpreter: int


@dataclass(frozen=True)
class ArticleCount:
    article_id: str
    title: str
    answers: int


@dataclass(frozen=True)
class CallFigures:
    """The call centre's month (definitions in README "Call-centre and crew figures")."""

    offered: int
    answered: int
    abandoned: int
    abandoned_pct: float | None
    asa_seconds: float | None
    service_level_pct: float | None
    service_level_seconds: float
    aht_seconds: float | None
    avg_hold_seconds: float | None
    information_pct: float | None
    request_pct: float | None
    interpreter: int
    interpreter_pct: float | None
    by_channel: list[ChannelCount]
    by_language: list[ChannelCount]
    top_articles: list[ArticleCount]
    per_day: list[DayCount]  # values: (offered, answered, abandoned)


@dataclass(frozen=True)
class Hotspot:
    """Requests reported close together: named after the service most of them are for."""

    service_name: str
    requests: int
    other_services: int  # how many of them are for other services
    extent_m: float  # from the centre to the farthest request
    first_requested: datetime
    last_requested: datetime
    latitude: float
    longitude: float


@dataclass(frozen=True)
class MonthlyReport:
    """Everything the report shows for one city and one month."""

    jurisdiction_id: str
    city: str
    time_zone: str
    month: date  # its first day
    generated_at: datetime
    requests: RequestFigures
    calls: CallFigures
    hotspots: list[Hotspot]
    hotspot_radius_m: float
    hotspot_min_requests: int
    notes: list[str] = field(default_factory=list)

    @property
    def month_name(self) -> str:
        return self.month.strftime("%B %Y")

    @property
    def previous_month_name(self) -> str:
        return (self.month - timedelta(days=1)).strftime("%B %Y")


# --- numbers as a reader wants them -----------------------------------------------------------


def number(value: float | int | None) -> str:
    """1,234; a dash for no value (nothing to divide by is not zero)."""
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def seconds(value: float | None) -> str:
    """42 s, or 3 min 05 s."""
    if value is None:
        return "–"
    whole = round(value)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} days"


def change(now: int, before: int) -> str:
    """+12 (+8.0 %) against the previous month; no percentage from zero."""
    difference = now - before
    if not before:
        return f"{difference:+,}"
    return f"{difference:+,} ({difference * 100 / before:+.1f} %)"


# --- the charts -------------------------------------------------------------------------------


def report_charts(report: MonthlyReport) -> dict[str, charts.Chart]:
    """The report's charts by section, each saying its month and city in its subtitle."""
    place = f"{report.city} · {report.month_name}"
    requests, calls = report.requests, report.calls
    groups = requests.by_group[:TOP_GROUPS]
    # A month without any request or contact draws "no data", not a flat line at zero.
    request_days = requests.per_day if requests.total.opened or requests.total.closed else []
    call_days = calls.per_day if calls.offered else []
    return {
        "requests_per_day": charts.Chart(
            title="Requests opened and closed per day",
            subtitle=f"{place} · local days ({report.time_zone})",
            x_label="day",
            y_label="requests",
            kind="line",
            x=[d.day for d in request_days],
            series={
                "opened": [d.values[0] for d in request_days],
                "closed": [d.values[1] for d in request_days],
            },
        ),
        "requests_by_group": charts.Chart(
            title="Requests opened by service group",
            subtitle=f"{place} against {report.previous_month_name}",
            x_label="service group",
            y_label="requests opened",
            kind="bar",
            x=[g.group for g in groups],
            series={
                report.previous_month_name: [g.opened_previous for g in groups],
                report.month_name: [g.opened for g in groups],
            },
        ),
        "backlog_by_group": charts.Chart(
            title="Backlog at the month's end by service group",
            subtitle=f"{place} · requests open at the end of the month",
            x_label="service group",
            y_label="open requests",
            kind="bar",
            x=[g.group for g in sorted(groups, key=lambda g: -g.backlog)],
            series={"open": [g.backlog for g in sorted(groups, key=lambda g: -g.backlog)]},
        ),
        "calls_per_day": charts.Chart(
            title="Contacts offered, answered and abandoned per day",
            subtitle=f"{place} · every channel",
            x_label="day",
            y_label="contacts",
            kind="line",
            x=[d.day for d in call_days],
            series={
                "offered": [d.values[0] for d in call_days],
                "answered": [d.values[1] for d in call_days],
                "abandoned": [d.values[2] for d in call_days],
            },
        ),
        "calls_by_channel": charts.Chart(
            title="Contacts by channel",
            subtitle=place,
            x_label="channel",
            y_label="contacts",
            kind="stacked_bar",
            x=[c.name for c in calls.by_channel],
            series={
                "answered": [c.answered for c in calls.by_channel],
                "abandoned": [c.abandoned for c in calls.by_channel],
                "neither (still queued or unknown)": [
                    c.offered - c.answered - c.abandoned for c in calls.by_channel
                ],
            },
        ),
        "hotspots": charts.Chart(
            title="Top hotspots: requests reported close together",
            subtitle=(
                f"{place} · requests within {report.hotspot_radius_m:g} m of each other, "
                f"at least {report.hotspot_min_requests} requests"
            ),
            x_label="hotspot",
            y_label="requests",
            kind="stacked_bar",
            x=[_hotspot_label(i, h) for i, h in enumerate(report.hotspots, 1)],
            series={
                "for the named service": [h.requests - h.other_services for h in report.hotspots],
                "for other services": [h.other_services for h in report.hotspots],
            },
        ),
    }


def _hotspot_label(rank: int, hotspot: Hotspot) -> str:
    return f"{rank}. {hotspot.service_name}"


# --- HTML -------------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("open311.wire", "report_templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=number, percent=percent, seconds=seconds, days=days, change=change
    )
    return environment


def render_html(report: MonthlyReport) -> bytes:
    """One self-contained UTF-8 HTML page: styles inline, charts as inline SVG."""
    pictures = {
        name: Markup(_inline_svg(charts.render(chart, "svg")))
        for name, chart in report_charts(report).items()
    }
    template = _environment().get_template("monthly.html")
    return template.render(report=report, charts=pictures).encode()


def _inline_svg(svg: bytes) -> str:
    """The <svg> element alone (no XML declaration or doctype inside HTML), without its fixed
    width and height: its viewBox keeps the proportions and the page's CSS sets the width."""
    text = svg.decode()
    text = text[text.index("<svg") :]
    opening = text[: text.index(">") + 1]
    sized = re.sub(r'\s(width|height)="[^"]*"', "", opening)
    return sized + text[len(opening) :]


# --- PDF --------------------------------------------------------------------------------------

# US Letter, landscape: what a city office prints on.
PAGE_IN = (11.0, 8.5)


def render_pdf(report: MonthlyReport) -> bytes:
    """The report as a PDF: a summary page of figures, then one page per section, its table
    above its chart. Deterministic: no creation date in the file."""
    buffer = io.BytesIO()
    metadata = {
        "Title": f"311 monthly report, {report.city}, {report.month_name}",
        "Subject": f"{report.jurisdiction_id} {report.month:%Y-%m}",
        "Creator": "open311 report",
        "Producer": None,
        "CreationDate": None,
    }
    with PdfPages(buffer, metadata=metadata) as pdf:
        for page in _pdf_pages(report):
            pdf.savefig(page)
    return buffer.getvalue()


def _pdf_pages(report: MonthlyReport) -> list[Figure]:
    pictures = report_charts(report)
    requests, calls = report.requests, report.calls
    total = requests.total
    summary = [
        ("Requests", "", ""),
        ("opened", number(total.opened), change(total.opened, total.opened_previous)),
        ("closed", number(total.closed), change(total.closed, total.closed_previous)),
        ("closed on time", percent(total.on_time_pct), "of those closed with an expected time"),
        ("backlog at month end", number(total.backlog), ""),
        ("median age of the backlog", days(total.backlog_median_age_days), ""),
        ("Call centre", "", ""),
        ("contacts offered", number(calls.offered), ""),
        ("answered", number(calls.answered), ""),
        ("abandoned", f"{number(calls.abandoned)} ({percent(calls.abandoned_pct)})", ""),
        ("average speed of answer", seconds(calls.asa_seconds), ""),
        (
            "service level",
            percent(calls.service_level_pct),
            f"of offered answered within {calls.service_level_seconds:g} s",
        ),
        ("average handle time", seconds(calls.aht_seconds), "hold included"),
        ("average hold", seconds(calls.avg_hold_seconds), ""),
        ("information / request", _shares(calls), "of contacts with a recorded outcome"),
        ("interpreter", f"{number(calls.interpreter)} ({percent(calls.interpreter_pct)})", ""),
        ("Hotspots", number(len(report.hotspots)), "in the tables that follow"),
    ]
    pages = [
        _text_page(report, f"{report.city}: 311 in {report.month_name}", summary, report.notes)
    ]
    groups = requests.by_group[:TOP_GROUPS]
    before = (report.month - timedelta(days=1)).strftime("%b")
    group_rows = [
        ("service group", "opened", f"in {before}", "closed", f"in {before}", "on time")
        + ("backlog", "median age")
    ]
    group_rows += [
        (
            g.group,
            number(g.opened),
            number(g.opened_previous),
            number(g.closed),
            number(g.closed_previous),
            percent(g.on_time_pct),
            number(g.backlog),
            days(g.backlog_median_age_days),
        )
        for g in groups
    ]
    pages.append(_chart_page(report, pictures["requests_per_day"], []))
    pages.append(_chart_page(report, pictures["requests_by_group"], group_rows))
    pages.append(_chart_page(report, pictures["backlog_by_group"], []))
    channel_rows = [("channel", "offered", "answered", "abandoned", "interpreter")]
    channel_rows += [
        (c.name, number(c.offered), number(c.answered), number(c.abandoned), number(c.interpreter))
        for c in calls.by_channel
    ]
    pages.append(_chart_page(report, pictures["calls_per_day"], []))
    pages.append(_chart_page(report, pictures["calls_by_channel"], channel_rows))
    language_rows = [("language", "offered", "answered", "abandoned", "interpreter")]
    language_rows += [
        (c.name, number(c.offered), number(c.answered), number(c.abandoned), number(c.interpreter))
        for c in calls.by_language[:10]
    ]
    article_rows = [("article", "title", "answers")] + [
        (a.article_id, a.title, number(a.answers)) for a in calls.top_articles[:10]
    ]
    pages.append(
        _tables_page(
            report,
            "Languages and articles",
            [
                ("Contacts by language", language_rows),
                ("Articles that answered most", article_rows),
            ],
        )
    )
    hotspot_rows = [
        ("#", "service", "requests", "other services", "within", "first, last", "where")
    ]
    hotspot_rows += [
        (
            str(i),
            h.service_name,
            number(h.requests),
            number(h.other_services),
            f"{h.extent_m:,.0f} m",
            f"{h.first_requested:%d %b}, {h.last_requested:%d %b}",
            f"{h.latitude:.5f}, {h.longitude:.5f}",
        )
        for i, h in enumerate(report.hotspots, 1)
    ]
    pages.append(_chart_page(report, pictures["hotspots"], hotspot_rows))
    for number_, page in enumerate(pages, 1):
        page.text(
            0.99, 0.01, f"{report.jurisdiction_id} · {report.month:%Y-%m} · page {number_}",
            ha="right", va="bottom", fontsize=8, color="#555555",
        )  # fmt: skip
    return pages


def _shares(calls: CallFigures) -> str:
    return f"{percent(calls.information_pct)} / {percent(calls.request_pct)}"


def _page() -> Figure:
    return Figure(figsize=PAGE_IN, dpi=100)


def _text_page(
    report: MonthlyReport, heading: str, rows: Sequence[tuple[str, str, str]], notes: list[str]
) -> Figure:
    """The summary: a heading, then label, figure and remark in three columns."""
    page = _page()
    page.text(0.05, 0.93, charts.plain(heading), fontsize=20, fontweight="bold")
    page.text(
        0.05, 0.89,
        charts.plain(f"{report.jurisdiction_id} · times in {report.time_zone} · "
                     f"made {report.generated_at:%Y-%m-%d %H:%M} UTC"),
        fontsize=10, color="#333333",
    )  # fmt: skip
    y = 0.83
    for label, value, remark in rows:
        if not value and not remark:
            y -= 0.01
            page.text(0.05, y, charts.plain(label), fontsize=13, fontweight="bold")
        else:
            page.text(0.07, y, charts.plain(label), fontsize=11)
            page.text(0.45, y, charts.plain(value), fontsize=11, ha="right", fontweight="bold")
            page.text(0.48, y, charts.plain(remark), fontsize=9, color="#444444")
        y -= 0.038
    for note in notes:
        page.text(0.05, y, charts.plain(note), fontsize=8, color="#444444", wrap=True)
        y -= 0.03
    return page


def _chart_page(
    report: MonthlyReport, chart: charts.Chart, rows: Sequence[Sequence[str]]
) -> Figure:
    """A section: its chart on top, its table (when it has one) below."""
    page = Figure(figsize=PAGE_IN, dpi=100, layout="constrained")
    if rows and len(rows) > 1:
        top, bottom = page.subfigures(2, 1, height_ratios=[1.25, 1])
        charts.draw(chart, top)
        _table(bottom, rows)
    else:
        charts.draw(chart, page)
    return page


def _tables_page(
    report: MonthlyReport, heading: str, tables: Sequence[tuple[str, Sequence[Sequence[str]]]]
) -> Figure:
    page = Figure(figsize=PAGE_IN, dpi=100, layout="constrained")
    page.suptitle(charts.plain(heading), fontsize=15, fontweight="bold", x=0.01, ha="left")
    parts = page.subfigures(len(tables), 1)
    for part, (title, rows) in zip(parts, tables, strict=True):
        part.suptitle(charts.plain(title), fontsize=11, x=0.01, ha="left")
        _table(part, rows)
    return page


def _table(figure, rows: Sequence[Sequence[str]]) -> None:
    axes = figure.add_subplot()
    axes.set_axis_off()
    if len(rows) <= 1:
        axes.text(0.5, 0.5, charts.NO_DATA, ha="center", va="center", color="#555555")
        return
    cells = [[charts.plain(_cut(cell)) for cell in row] for row in rows[1:]]
    table = axes.table(
        cellText=cells,
        colLabels=[charts.plain(c) for c in rows[0]],
        loc="upper center",
        cellLoc="left",
        colLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(rows[0]))))
    table.scale(1, 1.1)
    for (row, _column), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if row == 0:
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("#eeeeee")


def _cut(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
