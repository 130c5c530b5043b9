"""Charts: every kind renders to SVG and PNG at the promised size, with its title in the SVG,
the same bytes twice, a "no data" picture for empty input and at most MAX_SERIES series."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import defusedxml.ElementTree as ET
import pytest
from PIL import Image

from open311.wire import charts

WEEKS = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(12)]


def chart(**changes) -> charts.Chart:
    fields = {
        "title": "Requests opened per week",
        "subtitle": "Los Angeles · 2026-01-05 to 2026-03-23 · by district",
        "x_label": "week starting",
        "y_label": "requests",
        "kind": "line",
        "x": WEEKS,
        "series": {"CD 1": [i * 2 for i in range(12)], "CD 2": [None, *range(11)]},
    }
    return charts.Chart(**(fields | changes))


def svg_root(body: bytes):
    return ET.fromstring(body)


def png_size(body: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(body)) as image:
        image.load()
        return image.size


@pytest.mark.parametrize("kind", charts.KINDS)
@pytest.mark.parametrize(
    "x",
    [
        WEEKS,
        [date(2026, m, 1) for m in range(1, 13)],
        [date(2026, 11, 1) + timedelta(days=d) for d in range(12)],
        [datetime(2026, 11, 3, h) for h in range(12)],
        [f"service {i}" for i in range(12)],
    ],
    ids=["weeks", "months", "days", "hours", "categories"],
)
def test_every_kind_renders_both_formats(kind, x):
    picture = chart(kind=kind, x=x)
    png = charts.render(picture, "png")
    assert png.startswith(b"\x89PNG")
    assert png_size(png) == (960, 540)
    svg = charts.render(picture, "svg")
    root = svg_root(svg)
    assert root.tag.endswith("svg")
    assert b"Requests opened per week" in svg
    assert root.get("role") == "img"
    assert "Los Angeles" in root.get("aria-label")


def test_content_types():
    assert charts.CONTENT_TYPES == {"svg": "image/svg+xml", "png": "image/png"}


@pytest.mark.parametrize("image_format", ["svg", "png"])
def test_same_chart_same_bytes(image_format):
    assert charts.render(chart(), image_format) == charts.render(chart(), image_format)


def test_svg_has_no_date():
    assert b"<dc:date>" not in charts.render(chart(), "svg")


@pytest.mark.parametrize(
    "empty",
    [
        {"x": [], "series": {}},
        {"x": WEEKS, "series": {}},
        {"x": WEEKS, "series": {"CD 1": [None] * 12}},
        {"x": [], "series": {"CD 1": []}},
    ],
)
@pytest.mark.parametrize("kind", charts.KINDS)
def test_empty_data_draws_no_data(empty, kind):
    picture = chart(kind=kind, **empty)
    assert png_size(charts.render(picture, "png")) == (960, 540)
    svg = charts.render(picture, "svg")
    svg_root(svg)
    assert b"Requests opened per week" in svg


def test_thirty_series_are_capped_with_other():
    series = {f"CD {i}": [i] * 12 for i in range(1, 31)}
    drawn = charts.capped(series)
    assert len(drawn) == charts.MAX_SERIES
    assert list(drawn)[:-1] == [f"CD {i}" for i in range(30, 23, -1)]
    assert drawn[charts.OTHER] == [float(sum(range(1, 24)))] * 12
    for kind in charts.KINDS:
        assert png_size(charts.render(chart(kind=kind, series=series), "png")) == (960, 540)


def test_capping_keeps_gaps_and_drops_empty_series():
    series = {f"s{i}": [i, None] for i in range(1, 11)} | {"nothing": [None, None]}
    drawn = charts.capped(series, limit=3)
    assert list(drawn) == ["s10", "s9", charts.OTHER]
    assert drawn[charts.OTHER] == [float(sum(range(1, 9))), None]
    assert charts.capped({"a": [1, None], "nothing": [None, None]}) == {"a": [1.0, None]}


def test_an_existing_other_series_joins_the_sum():
    series = {"other": [100], **{f"s{i}": [i] for i in range(1, 10)}}
    drawn = charts.capped(series, limit=3)
    assert list(drawn) == ["s9", "s8", charts.OTHER]
    assert drawn[charts.OTHER] == [100.0 + sum(range(1, 8))]


def test_unicode_and_dollar_labels_render():
    picture = chart(
        title="Yêu cầu theo tuần — طلبات الخدمة $5",
        kind="bar",
        x=["Đường hỏng", "إنارة الشوارع", "中文", "$ cost"],
        series={"Tiếng Việt": [1, 2, 3, 4], "العربية": [4, 3, 2, 1]},
    )
    assert png_size(charts.render(picture, "png")) == (960, 540)
    svg_root(charts.render(picture, "svg"))
    assert charts.plain("中文 $") == r"?? \$"


def test_caller_errors_are_value_errors():
    with pytest.raises(ValueError, match="image format"):
        charts.render(chart(), "gif")
    with pytest.raises(ValueError, match="kind"):
        charts.render(chart(kind="pie"), "png")
    with pytest.raises(ValueError, match="values"):
        charts.render(chart(series={"CD 1": [1, 2]}), "png")


def test_float_values_and_zeroes():
    picture = chart(series={"on time %": [87.5, 90.25, None, 0.0] + [50.0] * 8})
    assert png_size(charts.render(picture, "png")) == (960, 540)
    zeroes = chart(kind="bar", series={"CD 1": [0] * 12})
    assert png_size(charts.render(zeroes, "png")) == (960, 540)


def tick_labels(picture: charts.Chart) -> list[str]:
    figure = charts.draw(picture)
    return [label.get_text() for label in figure.axes[0].get_xticklabels()]


def test_weekly_ticks_show_the_year_where_it_changes():
    weeks = [date(2025, 12, 1) + timedelta(weeks=i) for i in range(53)]
    labels = tick_labels(chart(x=weeks, series={"CD 1": list(range(53))}))
    assert 3 <= len(labels) <= 10
    assert labels[0] == "01 Dec\n2025"
    with_year = [label for label in labels if "\n" in label]
    assert with_year == [labels[0], next(label for label in labels if label.endswith("2026"))]


def test_a_month_of_hours_is_ticked_at_midnights():
    hours = [datetime(2026, 11, 1) + timedelta(hours=h) for h in range(744)]
    labels = tick_labels(chart(x=hours, series={"calls": [h % 24 for h in range(744)]}))
    assert labels[0] == "01 Nov\n2026" and len(labels) <= 10
    assert all(label[:2].isdigit() and label[3:6] == "Nov" for label in labels)


def test_a_day_of_hours_is_ticked_by_the_clock():
    hours = [datetime(2026, 11, 3, h) for h in range(24)]
    labels = tick_labels(chart(kind="bar", x=hours, series={"calls": list(range(24))}))
    assert labels[0] == "00:00\n03 Nov 2026"
    assert labels[1] == "03:00"


def test_many_categories_are_thinned_and_long_names_cut():
    names = [f"Call-taker {i}" for i in range(60)]
    labels = tick_labels(chart(kind="bar", x=names, series={"offered": list(range(60))}))
    assert len(labels) == 20 and labels[:2] == ["Call-taker 0", "Call-taker 3"]
    long = {f"Service number {i} with a very long name indeed": [i] * 12 for i in range(12)}
    figure = charts.draw(chart(kind="stacked_bar", series=long))
    (legend,) = figure.legends
    texts = [text.get_text() for text in legend.get_texts()]
    assert len(texts) == charts.MAX_SERIES and texts[-1] == charts.OTHER
    assert all(len(text) <= charts.MAX_LABEL_CHARS for text in texts)
    assert texts[0].endswith("…")
