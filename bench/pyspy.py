"""Where a gunicorn worker's time goes under a scenario's load: py-spy on every worker.

Optional (`run.py --profile PATH-TO-PY-SPY`): an extra, unmeasured run of the API at the
highest concurrency while py-spy samples the gunicorn workers (wall clock, idle included), then
the stacks summed per function: self time (where the samples sat) and inclusive time of the
project's own functions (what each open311 function costs with everything it calls).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from loadgen import measure

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
WAITING = ("recv", "poll", "select", "accept", "wait", "read", "sleep", "_wait", "execute")


def _label(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{file}:{match['function']}"


def summarise(raw: str, top: int = 30) -> str:
    """Self and inclusive shares per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_label(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for label in set(frames):
            inclusive[label] += count
    if not total:
        return "(no samples)\n"
    lines = [f"{total} samples", "", "self time (where the samples sat):"]
    lines += [f"  {100 * n / total:5.1f}%  {label}" for label, n in own.most_common(top)]
    lines += ["", "inclusive time of the project's functions (open311/...):"]
    ours = [(label, n) for label, n in inclusive.most_common() if label.startswith("open311/")]
    lines += [f"  {100 * n / total:5.1f}%  {label}" for label, n in ours[:top]]
    lines += ["", "inclusive time of libraries (top):"]
    theirs = [(label, n) for label, n in inclusive.most_common() if not label.startswith("open311")]
    lines += [f"  {100 * n / total:5.1f}%  {label}" for label, n in theirs[:top]]
    return "\n".join(lines) + "\n"


def profile_api(
    scenario, concurrency: int, duration: float, server_pid: int, py_spy: str, folder: Path
) -> Path:
    """Run the scenario's API side under py-spy; write the summary to <folder>/<scenario>.txt
    (the raw stacks to the temporary directory); return the summary's path."""
    folder.mkdir(parents=True, exist_ok=True)
    # The raw stacks run to megabytes: they stay out of the repository, next to the logs.
    raw_path = Path(tempfile.gettempdir()) / f"open311-bench-{scenario.name}.collapsed"
    recorder = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(server_pid),
            "--subprocesses",
            "--idle",
            "--rate",
            "200",
            "--format",
            "raw",
            "--duration",
            str(int(duration) + 2),
            "--output",
            str(raw_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    measured = measure(scenario.api, concurrency, duration)
    _out, err = recorder.communicate(timeout=duration + 120)
    raw = raw_path.read_text() if raw_path.exists() else ""
    summary = folder / f"{scenario.name}.txt"
    header = (
        f"# {scenario.name} at {concurrency} clients under py-spy (wall clock, idle included), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {measured.rate:.0f} req/s "
        f"while sampled (sampling slows the workers)\n# raw stacks: {raw_path}\n"
    )
    summary.write_text(
        header + summarise(raw) + (f"\npy-spy: {err.strip()[-500:]}\n" if err else "")
    )
    return summary
