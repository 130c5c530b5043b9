"""Whose CPU: how much of the two cores other people's processes used while we measured.

The machine is shared (other sessions run test suites), so each measurement says how busy the
rest of it was. Ours are the descendants of this process (gunicorn, the clients) and of the
local cluster's postmaster (every database backend); everything else is someone else's. A
process that starts and ends inside the window is not seen, so this is a lower bound.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CORES = len(os.sched_getaffinity(0))


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks used so far)."""
    found: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def _descendants(tree: dict[int, tuple[int, int]], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _ticks) in tree.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


class OtherLoad:
    """Use as `with OtherLoad(roots) as load: ...`, then `load.percent`."""

    def __init__(self, roots: set[int]):
        self.roots = roots
        self.percent = 0.0

    def __enter__(self) -> OtherLoad:
        self.before = _processes()
        self.started = time.monotonic()
        return self

    def __exit__(self, *_exc: object) -> None:
        after = _processes()
        elapsed = time.monotonic() - self.started
        ours = _descendants(self.before, self.roots) | _descendants(after, self.roots)
        ticks = sum(
            after[pid][1] - used
            for pid, (_ppid, used) in self.before.items()
            if pid in after and pid not in ours
        )
        self.percent = 100.0 * ticks / TICKS / max(elapsed, 1e-9) / CORES


def postmaster_pid(datadir: Path) -> int | None:
    try:
        return int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
