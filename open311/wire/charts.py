"""Statistics as pictures: one Chart (title, period, axes, series) rendered to SVG or PNG.

Every statistics endpoint offers its figures as `.svg` and `.png` of the same URL, and the monthly
report draws its charts here too, so the rules a reader relies on live in one place: the title
says what is measured, the subtitle the period and filters, the axes their units; at most
`MAX_SERIES` series are drawn (the largest, the rest summed as "other"); empty data draws a
"no data" picture instead of failing; the same chart always gives the same bytes (cacheable,
testable).

matplotlib is used through `Figure` and a backend canvas only, never `pyplot`: pyplot keeps a
global figure registry that is not safe across gunicorn threads. Colours are the Okabe-Ito
palette, distinguishable with the common colour-vision deficiencies; lines also vary their
markers so a greyscale print still tells them apart.

Text: DejaVu Sans (shipped with matplotlib) covers Latin with diacritics (Vietnamese), Greek,
Cyrillic, Arabic and Hebrew letters. The matplotlib installed here (3.11) joins Arabic letters and
runs them right to left (looked at in a rendered sample); an older matplotlib would draw them
unjoined, left to right. Characters the font lacks (Chinese, for one) are drawn as "?" rather than
as empty boxes with a warning per glyph.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

import matplotlib
import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure, FigureBase
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.ticker import FuncFormatter, MaxNLocator

ChartKind = Literal["line", "bar", "stacked_bar"]
ImageFormat = Literal["svg", "png"]

CONTENT_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
FORMATS = tuple(CONTENT_TYPES)
KINDS = ("line", "bar", "stacked_bar")

# The largest series drawn; the rest are summed into OTHER. Eight is about what a legend and the
# palette below can keep apart.
MAX_SERIES = 8
OTHER = "other"
NO_DATA = "no data for this period"

# 960 x 540 px: a 16:9 picture that reads on a screen and fits a printed page's width.
WIDTH_IN, HEIGHT_IN, DPI = 9.6, 5.4, 100

# Okabe & Ito (2008), without black (kept for text) and with yellow last: it is pale on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
OTHER_COLOUR = "#999999"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

# A category or series name longer than this is cut with an ellipsis, so the axis and the
# legend keep their room.
MAX_LABEL_CHARS = 32

# Deterministic SVG element ids (matplotlib otherwise salts them with a random uuid). Every
# render assigns this same constant, so concurrent renders never observe another value.
_SVG_HASH_SALT = "open311-charts"


@dataclass(frozen=True)
class Chart:
    """What to draw: the measure, its period and filters, the axes' units, and the series.

    `x` holds the periods (dates or datetimes, in order) or category labels (strings);
    `series` maps a series name to values aligned with `x`, None where there is no value.
    """

    title: str
    subtitle: str
    x_label: str
    y_label: str
    kind: ChartKind
    x: Sequence[date | datetime | str]
    series: Mapping[str, Sequence[float | int | None]] = field(default_factory=dict)


def render(chart: Chart, image_format: ImageFormat) -> bytes:
    """The chart as SVG or PNG bytes, the same bytes every time for the same chart.

    Raises ValueError for an unknown format or kind, or series whose length is not len(x): those
    are the caller's bugs, not data. Empty data (no x, no series, only None) draws NO_DATA.
    """
    if image_format not in CONTENT_TYPES:
        raise ValueError(f"unknown image format {image_format!r}; expected one of {FORMATS}")
    if chart.kind not in KINDS:
        raise ValueError(f"unknown chart kind {chart.kind!r}; expected one of {KINDS}")
    for name, values in chart.series.items():
        if len(values) != len(chart.x):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(chart.x)} x")
    figure = draw(chart)
    buffer = io.BytesIO()
    if image_format == "svg":
        matplotlib.rcParams["svg.hashsalt"] = _SVG_HASH_SALT
        FigureCanvasSVG(figure).print_svg(
            buffer, metadata={"Date": None, "Creator": None, "Title": plain(chart.title)}
        )
        return _with_svg_title(buffer.getvalue(), chart)
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def draw(chart: Chart, figure: FigureBase | None = None) -> FigureBase:
    """The chart on a new Figure, or on `figure` (a page or part of one, laid out with
    layout="constrained"), for callers that place it themselves (the monthly report's PDF
    pages); render() is this plus a canvas."""
    if figure is None:
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    figure.set_facecolor("white")
    axes = figure.add_subplot()
    figure.suptitle(plain(chart.title), fontsize=15, fontweight="bold", x=0.01, ha="left")
    axes.set_title(plain(chart.subtitle), fontsize=10, color="#333333", loc="left")
    series = capped(chart.series)
    if not chart.x or not series:
        _draw_no_data(axes)
        return figure
    positions, width, is_time = _positions(chart.x)
    colours = _colours(list(series))
    if chart.kind == "line":
        _draw_lines(axes, positions, series, colours, markers=len(positions) <= 40)
    elif chart.kind == "bar":
        _draw_bars(axes, positions, width, series, colours)
    else:
        _draw_stacked(axes, positions, width, series, colours)
    axes.set_xlabel(plain(chart.x_label))
    axes.set_ylabel(plain(chart.y_label))
    _format_x(axes, chart.x, positions, width, is_time)
    _format_y(axes, series, chart.kind)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if len(series) > 1:
        # Below the plot, outside it: a legend never covers a line or a bar.
        # As many columns as the longest name lets fit across the picture.
        longest = max(len(_shortened(name)) for name in series)
        figure.legend(
            loc="outside lower center",
            ncols=max(1, min(4, len(series), 110 // (longest + 6))),
            frameon=False,
            fontsize=9,
        )
    return figure


def capped(
    series: Mapping[str, Sequence[float | int | None]], limit: int = MAX_SERIES
) -> dict[str, list[float | None]]:
    """The series worth drawing: without those that are all None, the largest `limit - 1` by
    total kept in order of size and the rest summed as OTHER (None where all of them are None).

    All of them are kept when they fit; an existing series called OTHER joins the sum.
    """
    present = {
        str(name): [None if v is None or _is_nan(v) else float(v) for v in values]
        for name, values in series.items()
        if any(v is not None and not _is_nan(v) for v in values)
    }
    if len(present) <= limit:
        return present
    ranked = sorted(present, key=lambda name: (-sum(abs(v or 0) for v in present[name]), name))
    kept = [name for name in ranked if name != OTHER][: limit - 1]
    rest = [present[name] for name in ranked if name not in kept]
    result = {name: present[name] for name in kept}
    result[OTHER] = [
        None if all(v is None for v in column) else sum(v or 0 for v in column)
        for column in zip(*rest, strict=True)
    ]
    return result


def plain(text: str) -> str:
    """Text matplotlib draws as written: "$" is not the start of a formula, and characters
    the font lacks become "?" (instead of a box and a warning per glyph)."""
    covered = _font_characters()
    text = "".join(c if ord(c) in covered or c in "\n\t" else "?" for c in str(text))
    return text.replace("$", r"\$")


def _draw_no_data(axes) -> None:
    axes.set_axis_off()
    axes.text(
        0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=16, color="#555555",
        transform=axes.transAxes,
    )  # fmt: skip


def _positions(x: Sequence[date | datetime | str]) -> tuple[list[float], float, bool]:
    """Where each x goes, how wide a bar may be, and whether x is time. Periods sit on a date
    axis (gaps show as gaps); categories at 0, 1, 2 ..."""
    if all(isinstance(v, date) for v in x):
        numbers = [float(mdates.date2num(v)) for v in x]
        steps = [b - a for a, b in zip(numbers, numbers[1:], strict=False) if b > a]
        return numbers, (min(steps) if steps else 1.0), True
    return [float(i) for i in range(len(x))], 1.0, False


def _colours(names: list[str]) -> dict[str, str]:
    colours, i = {}, 0
    for name in names:
        if name == OTHER:
            colours[name] = OTHER_COLOUR
        else:
            colours[name] = PALETTE[i % len(PALETTE)]
            i += 1
    return colours


def _draw_lines(axes, positions, series, colours, markers: bool) -> None:
    for i, (name, values) in enumerate(series.items()):
        axes.plot(
            positions,
            [math.nan if v is None else v for v in values],
            label=plain(_shortened(name)),
            color=colours[name],
            linewidth=2 if len(positions) <= 100 else 1,
            marker=MARKERS[i % len(MARKERS)] if markers else None,
            markersize=4,
        )


def _draw_bars(axes, positions, width, series, colours) -> None:
    """Side by side within each period or category."""
    group = 0.8 * width
    each = group / len(series)
    for i, (name, values) in enumerate(series.items()):
        offset = -group / 2 + each * (i + 0.5)
        axes.bar(
            [p + offset for p in positions],
            [0 if v is None else v for v in values],
            width=each,
            label=plain(_shortened(name)),
            color=colours[name],
        )


def _draw_stacked(axes, positions, width, series, colours) -> None:
    bottom = [0.0] * len(positions)
    for name, values in series.items():
        heights = [0 if v is None else v for v in values]
        axes.bar(
            positions, heights, width=0.8 * width, bottom=bottom,
            label=plain(_shortened(name)), color=colours[name], edgecolor="white", linewidth=0.3,
        )  # fmt: skip
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]


def _format_x(axes, x, positions, width: float, is_time: bool) -> None:
    """At most about a dozen labelled ticks, each on a period or category drawn."""
    if is_time:
        ticks = _time_ticks(x, width)
        labels = _time_labels([x[i] for i in ticks], width < 1 and len(x) <= 48, width)
        axes.set_xticks([positions[i] for i in ticks], labels)
        axes.set_xlim(positions[0] - width * 0.6, positions[-1] + width * 0.6)
        return
    labels = [plain(_shortened(str(v))) for v in x]
    step = math.ceil(len(labels) / 20)
    axes.set_xticks(positions[::step], labels[::step])
    axes.set_xlim(-0.6, len(positions) - 0.4)
    longest = max(len(label) for label in labels)
    # Horizontal labels while they fit side by side; slanted (anchored at their end) otherwise.
    if longest * len(labels[::step]) > 90:
        for label in axes.get_xticklabels():
            label.set_rotation(35)
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _time_ticks(x: Sequence[date], width: float) -> list[int]:
    """Which periods get a label: every n-th, and for hours over more than two days every n-th
    midnight, so the ticks read as whole days."""
    candidates = list(range(len(x)))
    if width < 1 and len(x) > 48:
        midnights = [i for i in candidates if isinstance(x[i], datetime) and x[i].hour == 0]
        candidates = midnights or candidates
    limit = 12 if width >= 28 else 10
    return candidates[:: math.ceil(len(candidates) / limit)]


def _time_labels(moments: Sequence[date], hours: bool, width: float) -> list[str]:
    """Months as "Jan", days and weeks as "05 Jan", `hours` (up to two days of them) as
    "14:00"; the year (the day, for hours) under the first label and wherever it changes, not
    repeated on every tick."""
    labels, previous = [], None
    for moment in moments:
        if hours:
            text, context = f"{moment:%H:%M}", f"{moment:%d %b %Y}"
        elif width >= 28:
            text, context = f"{moment:%b}", f"{moment:%Y}"
        else:
            text, context = f"{moment:%d %b}", f"{moment:%Y}"
        labels.append(text if context == previous else f"{text}\n{context}")
        previous = context
    return labels


def _format_y(axes, series, kind: str) -> None:
    values = [v for vs in series.values() for v in vs if v is not None]
    whole = all(float(v).is_integer() for v in values)
    if whole:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    else:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.4g}"))
    if min(values, default=0) < 0:
        return  # matplotlib's own limits, around zero
    # From zero, with headroom above the highest point or stack, so nothing touches the frame
    # or the subtitle above it.
    if kind == "stacked_bar":
        columns = zip(*series.values(), strict=True)
        top = max((sum(v or 0 for v in column) for column in columns), default=0)
    else:
        top = max(values, default=0)
    axes.set_ylim(0, top * 1.08 if top > 0 else 1)


def _shortened(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _is_nan(value: float | int) -> bool:
    return isinstance(value, float) and math.isnan(value)


@cache
def _font_characters() -> frozenset[int]:
    """The code points the default sans-serif font draws."""
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(findfont(FontProperties(family=["sans-serif"]))).get_charmap())


_SVG_OPEN = re.compile(rb"<svg\b[^>]*>")


def _with_svg_title(svg: bytes, chart: Chart) -> bytes:
    """A <title> and an aria label on the root element: the text a screen reader announces and
    a browser shows on hover (the drawn text itself is paths, exact in every viewer)."""
    match = _SVG_OPEN.search(svg)
    if match is None:  # pragma: no cover - matplotlib always writes one
        return svg
    label = f"{chart.title}. {chart.subtitle}"
    opening = match.group(0)[:-1] + f' role="img" aria-label={quoteattr(label)}>'.encode()
    title = f"\n <title>{escape(label)}</title>".encode()
    return svg[: match.start()] + opening + title + svg[match.end() :]
