"""What a run found, as a table on the terminal and as bench/RESULTS.md, with the machine."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from loadgen import Measurement
from scenarios import Target

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    scenario: str
    title: str
    concurrency: int
    api: Measurement
    floor: Measurement
    target: Target | None
    background_cpu: float  # % of the cores other people's processes used while it was measured
    single_client_p50: float | None = None  # the API's p50 of the same scenario at 1 client

    @property
    def ratio(self) -> float:
        return self.api.rate / self.floor.rate if self.floor.rate else float("nan")

    @property
    def judged(self) -> bool:
        """The targets are set at 8 concurrent clients."""
        return self.target is not None and self.concurrency == 8

    @property
    def met(self) -> bool | None:
        if not self.judged or self.target is None:
            return None
        return self.api.errors == 0 and self.target.met(
            self.ratio, self.api.p99, self.single_client_p50
        )


def _fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


HEADER = (
    "scenario",
    "clients",
    "API req/s",
    "API p50 ms",
    "API p99 ms",
    "floor req/s",
    "floor p50 ms",
    "floor p99 ms",
    "ratio",
    "target (8 clients)",
    "met?",
    "rows",
    "errors",
    "other CPU %",
)


def cells(row: Row) -> list[str]:
    met = row.met
    rows = "/".join(str(m.rows) if m.rows is not None else "-" for m in (row.api, row.floor))
    return [
        row.scenario,
        str(row.concurrency),
        _fmt(row.api.rate),
        _fmt(row.api.p50, 2),
        _fmt(row.api.p99, 2),
        _fmt(row.floor.rate),
        _fmt(row.floor.p50, 2),
        _fmt(row.floor.p99, 2),
        f"{row.ratio:.2f}",
        row.target.text() if row.target and row.judged else "",
        "" if met is None else ("yes" if met else "NO"),
        rows,
        f"{row.api.errors}/{row.floor.errors}",
        f"{row.background_cpu:.0f}",
    ]


def text_table(rows: list[Row]) -> str:
    table = [list(HEADER)] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def machine(cursor: Any) -> dict[str, str]:
    """The machine, the database server and the code the numbers were measured on."""
    cursor.execute("SELECT version(), postgis_lib_version(), postgis_full_version()")
    pg, postgis, postgis_full = cursor.fetchone()
    settings = {}
    for name in (
        "shared_buffers",
        "work_mem",
        "effective_cache_size",
        "max_parallel_workers_per_gather",
        "jit",
        "fsync",
        "synchronous_commit",
    ):
        cursor.execute(f"SHOW {name}")
        settings[name] = cursor.fetchone()[0]
    changed = _run(["git", "status", "--porcelain", "--untracked-files=no"]).splitlines()
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("gunicorn", "Flask", "SQLAlchemy", "GeoAlchemy2", "psycopg2-binary")
    )
    return {
        "CPU": f"{_cpu_model()}, nproc {len(os.sched_getaffinity(0))}",
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "PostgreSQL": pg,
        "PostGIS": f"{postgis} ({postgis_full.split(' ', 2)[-1]})",
        "PostgreSQL settings (as the app's sessions, and so the floor's, see them)": ", ".join(
            f"{k}={v}" for k, v in settings.items()
        ),
        "Python": sys.version.split()[0] + " (" + sys.executable + ")",
        "packages": versions,
        "git commit": _run(["git", "rev-parse", "HEAD"]) or "unknown",
        "working tree": (
            "clean"
            if not changed
            else f"{len(changed)} tracked files modified: "
            + ", ".join(line.split(maxsplit=1)[-1] for line in changed[:12])
            + (" ..." if len(changed) > 12 else "")
        ),
    }
