"""The cost curve (issue 16): each scenario's API p50 and p99 against the table's size.

Reads the results.json of runs of bench/run.py on tables of different sizes (e.g. 100,000,
1,000,000 and 10,000,000 requests, each written with `--results`), draws one small panel per
scenario (p50 at 1 client, p99 at 8 clients, log-log), writes bench/curve.png and prints a
Markdown table of the growth from one size to the next, for RESULTS.md.

    .venv/bin/python bench/curve.py bench/curve/100k.json bench/curve/1m.json bench/curve/10m.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
# How much a scenario may grow from 1M to 10M requests (issue 16): by id and the map shapes.
BOUNDED = 1.5


def load(paths: list[Path]) -> list[dict[str, Any]]:
    """The runs, smallest table first."""
    runs = [json.loads(path.read_text()) for path in paths]
    return sorted(runs, key=lambda run: run["requests"])


def series(runs: list[dict[str, Any]]) -> dict[str, dict[int, dict[int, dict[str, float]]]]:
    """scenario -> clients -> table size -> the API's figures."""
    out: dict[str, dict[int, dict[int, dict[str, float]]]] = {}
    for run in runs:
        for row in run["rows"]:
            by_clients = out.setdefault(row["scenario"], {})
            by_clients.setdefault(row["clients"], {})[run["requests"]] = row["api"]
    return out


def bounded(name: str) -> bool:
    """Scenarios whose cost should not follow the table: by id and the map shapes."""
    return name == "by_id" or name.startswith(("box_", "near_", "district_", "bbox_", "radius"))


def draw(data: dict[str, dict[int, dict[int, dict[str, float]]]], out: Path) -> None:
    # Only what was measured at two sizes or more makes a curve.
    names = sorted(
        name for name in data if len({s for pts in data[name].values() for s in pts}) > 1
    )
    columns = 5
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows), dpi=90, layout="constrained")
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        for clients, metric, style, label in (
            (1, "p50_ms", "o-", "p50, 1 client"),
            (8, "p99_ms", "s--", "p99, 8 clients"),
        ):
            points = sorted(data[name].get(clients, {}).items())
            if points:
                axes.plot(
                    [size for size, _ in points],
                    [figures[metric] for _, figures in points],
                    style,
                    label=label,
                    markersize=4,
                )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_title(name, fontsize=9)
        axes.tick_params(labelsize=7)
        axes.yaxis.set_minor_formatter("")
        axes.grid(True, which="both", alpha=0.3)
        if index % columns == 0:
            axes.set_ylabel("ms", fontsize=8)
        if index >= len(names) - columns:
            axes.set_xlabel("requests in the table", fontsize=8)
        if index == 0:
            axes.legend(fontsize=7)
    figure.suptitle("API latency against table size (bench/run.py, same machine)", fontsize=11)
    figure.savefig(out)


def growth_table(data: dict[str, dict[int, dict[int, dict[str, float]]]]) -> list[str]:
    """One Markdown row per scenario: p50 (1 client) and p99 (8 clients) at each size, and
    the growth of each from the second-largest size to the largest."""
    sizes = sorted({size for by in data.values() for pts in by.values() for size in pts})
    head = " | ".join(f"{size:,}: p50 / p99 ms" for size in sizes)
    lines = [
        f"| scenario | {head} | p50 x | p99 x | bounded? |",
        "|---" * (len(sizes) + 4) + "|",
    ]
    for name in sorted(data):
        one, eight = data[name].get(1, {}), data[name].get(8, {})
        cells = []
        for size in sizes:
            p50 = one.get(size, {}).get("p50_ms")
            p99 = eight.get(size, {}).get("p99_ms")
            cells.append(f"{_ms(p50)} / {_ms(p99)}")
        grow50 = _growth(one, sizes, "p50_ms")
        grow99 = _growth(eight, sizes, "p99_ms")
        verdict = ""
        if bounded(name) and grow50 is not None and grow99 is not None:
            verdict = "yes" if max(grow50, grow99) <= BOUNDED else "NO"
        lines.append(f"| {name} | {' | '.join(cells)} | {_x(grow50)} | {_x(grow99)} | {verdict} |")
    return lines


def _growth(points: dict[int, dict[str, float]], sizes: list[int], metric: str) -> float | None:
    if len(sizes) < 2 or sizes[-1] not in points or sizes[-2] not in points:
        return None
    return points[sizes[-1]][metric] / points[sizes[-2]][metric]


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.1f}")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="results.json of each run")
    parser.add_argument("--out", type=Path, default=HERE / "curve.png")
    args = parser.parse_args(argv)
    data = series(load(args.results))
    draw(data, args.out)
    print("\n".join(growth_table(data)))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
