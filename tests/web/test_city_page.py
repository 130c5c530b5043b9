"""/city: the public request statistics as a page, the same figures as GET stats/requests for
the same month, its charts pointing at the API's, the default month, the page's language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from open311.domain import city_figures, request_stats
from open311.values import Status
from tests.factories import (
    make_boundary_layer,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
    place_request,
)

STATS = "/open311/v2/stats/requests.json"
# A history that ended years ago, as the demo's Los Angeles: June 2023 its last month.
JUNE = datetime(2023, 6, 10, 15, tzinfo=UTC)


@pytest.fixture
def city(db):
    """Potholes (closed in 10 h, on time; in 50 h, late; one open) in district A, graffiti
    (closed in 5 h, no expected time) in B, in June 2023; one pothole in May 2023."""
    jurisdiction = make_jurisdiction(
        db, jurisdiction_id="figures.example.org", name="Figures City", is_default=True
    )
    pothole = make_service(db, jurisdiction, "pothole", service_name="Pothole")
    graffiti = make_service(db, jurisdiction, "graffiti", service_name="Graffiti")
    layer = make_boundary_layer(db, jurisdiction, "wards")
    a, b = make_district(db, layer, "A", title="Ward Alpha"), make_district(db, layer, "B")

    def request(service, district, start, hours, expected=None):
        closed = start + timedelta(hours=hours) if hours is not None else None
        made = make_request(
            db,
            service,
            requested_datetime=start,
            updated_datetime=closed or start,
            status=Status.closed if closed else Status.open,
            expected_datetime=start + timedelta(hours=expected) if expected else None,
        )
        place_request(db, made, district)

    request(pothole, a, JUNE, 10, expected=24)
    request(pothole, a, JUNE, 50, expected=24)
    request(pothole, a, JUNE, None)
    request(graffiti, b, JUNE, 5)
    request(pothole, a, JUNE - timedelta(days=30), 2)
    request_stats.refresh(db, jurisdiction, now=JUNE + timedelta(days=5))
    return jurisdiction


def page(client, **params: str):
    response = client.get("/city", query_string=params)
    assert response.status_code == 200, response.data
    return response.get_data(as_text=True)


def cells(html: str, table: str, group: str) -> list[str]:
    """The figures of a group's row in the table with id `table`."""
    section = html[html.index(f'id="{table}"') :]
    row = section[section.index(f'data-group="{group}"') :]
    row = row[: row.index("</tr>")]
    return re.findall(r'<td class="num">([^<]*)</td>', row)


def test_the_default_month_is_the_latest_with_figures(client, city):
    html = page(client)
    assert '<option value="2023-06" selected>June 2023</option>' in html
    assert '<option value="2023-05" >May 2023</option>' in html


def test_the_service_figures_equal_the_apis(client, city):
    html = page(client, month="2023-06")
    api = client.get(
        STATS,
        query_string={"period": "month", "start_date": "2023-06-01", "end_date": "2023-06-30"},
    ).get_json()
    rows = {row["group"]: row for row in api["figures"]}
    pothole = rows["pothole"]
    assert (pothole["opened"], pothole["closed"], pothole["backlog"]) == (3, 2, 1)
    assert cells(html, "services-table", "pothole") == [
        str(pothole["opened"]),
        str(pothole["closed"]),
        f"{pothole['median_hours_to_close']:.1f}",
        f"{pothole['on_time_share'] * 100:.1f}%",
        str(pothole["backlog"]),
    ]
    graffiti = rows["graffiti"]
    assert cells(html, "services-table", "graffiti") == [
        str(graffiti["opened"]),
        str(graffiti["closed"]),
        f"{graffiti['median_hours_to_close']:.1f}",
        "–",  # no expected time, no share
        str(graffiti["backlog"]),
    ]


def test_the_district_figures_equal_the_apis(client, city):
    html = page(client, month="2023-06")
    api = client.get(
        STATS,
        query_string={
            "group_by": "district",
            "period": "month",
            "start_date": "2023-06-01",
            "end_date": "2023-06-30",
        },
    ).get_json()
    ward = next(row for row in api["figures"] if row["group"] == "A")
    assert "Ward Alpha" in html
    assert cells(html, "districts-table", "A")[:2] == [str(ward["opened"]), str(ward["closed"])]


def test_the_city_totals_add_up_the_services(client, city):
    html = page(client, month="2023-06")
    glance = html[html.index('class="glance"') :]
    figures = re.findall(r'<span class="figure">([^<]*)</span>', glance)[:4]
    assert figures == ["4", "3", "50.0%", "1"]


def test_the_charts_are_the_apis(client, city):
    html = page(client, month="2023-06")
    sources = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', html)
    assert len(sources) == 5
    for source, alt in sources:
        assert source.startswith("/open311/v2/stats/requests.svg?")
        # Twelve months to June, but none before the city's first month with figures.
        assert "start_date=2023-05-01" in source and "end_date=2023-06-30" in source
        assert alt.startswith("Line chart: ") and "May 2023 to June 2023" in alt
        chart = client.get(source.replace("&amp;", "&"))
        assert chart.status_code == 200
        assert chart.content_type.startswith("image/svg+xml")


def test_another_month(client, city):
    html = page(client, month="2023-05")
    assert '<option value="2023-05" selected>May 2023</option>' in html
    assert cells(html, "services-table", "pothole")[:2] == ["1", "1"]
    assert 'data-group="graffiti"' not in html


def test_a_month_that_is_not_one_is_said_next_to_the_field(client, city):
    html = page(client, month="2023-13")
    assert 'aria-invalid="true"' in html and "YYYY-MM" in html
    assert '<option value="2023-06" selected>' in html  # the default month instead


def test_in_spanish_and_arabic(client, city):
    html = page(client, month="2023-06", locale="es")
    assert '<html lang="es" dir="ltr">' in html
    assert "junio de 2023" in html
    html = page(client, month="2023-06", locale="ar")
    assert '<html lang="ar" dir="rtl">' in html


def test_a_city_without_a_refresh_says_so(client, db):
    make_jurisdiction(db, jurisdiction_id="new.example.org", is_default=True)
    html = page(client)
    assert "have not been computed yet" in html
    assert "<img" not in html


def test_an_unknown_city_is_404(client, city):
    response = client.get("/city", query_string={"jurisdiction_id": "nowhere"})
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")


def test_months_back_and_the_default_month(city):
    assert city_figures.months_back(date(2023, 2, 1), 3) == date(2022, 11, 1)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert city_figures.default_month(None, city, now) == date(2026, 12, 1)
    assert city_figures.default_month([date(2023, 6, 1)], city, now) == date(2023, 6, 1)
    assert city_figures.default_month([date(2026, 12, 1)], city, now) == date(2026, 12, 1)
    latest = [date(2026, 12, 1), date(2026, 11, 1)]  # the last month that ended
    assert city_figures.default_month(latest, city, now) == date(2026, 11, 1)
    assert city_figures.trend_window(date(2023, 6, 1)) == (date(2022, 7, 1), date(2023, 6, 30))
    first = date(2023, 5, 1)
    assert city_figures.trend_window(date(2023, 6, 1), first) == (first, date(2023, 6, 30))


def test_one_month_of_figures_is_a_bar_chart(client, city):
    html = page(client, month="2023-05")
    alts = re.findall(r'<img src="[^"]+" alt="([^"]+)"', html)
    assert alts and all(alt.startswith("Bar chart: ") and "May 2023." in alt for alt in alts)


def test_without_expected_times_there_is_no_on_time_chart(client, db):
    city = make_jurisdiction(db, jurisdiction_id="plain.example.org", is_default=True)
    service = make_service(db, city, "litter")
    make_request(
        db,
        service,
        requested_datetime=JUNE,
        updated_datetime=JUNE + timedelta(hours=3),
        status=Status.closed,
    )
    request_stats.refresh(db, city, now=JUNE + timedelta(days=1))
    html = page(client)
    assert "metric=on_time_share" not in html
    assert "closed by the expected time" not in html
    assert len(re.findall(r"<img ", html)) == 4
    assert "Districts in" not in html  # no boundary layer


def test_districts_are_in_number_order_with_no_district_last():
    from open311.domain.request_stats import Figures, Period

    def row(group):
        return Figures(
            group, Period(date(2023, 6, 1), date(2023, 6, 30)), 0, 0, None, None, 0, None, 0, None
        )

    rows = [row(g) for g in ("10", None, "2", "Alpha", "1")]
    ordered = sorted(rows, key=city_figures._district_order)
    assert [r.group for r in ordered] == ["1", "2", "10", "Alpha", None]
