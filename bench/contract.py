"""Our own contract, fuzzed at length: schemathesis against /openapi.json, every check on.

CI runs tests/api/test_schemathesis.py's `test_own_contract_passes_every_check` with one example
per operation and mode (a few hundred calls). This runs the same test, with a token of each staff
role, and as many examples as make `--calls` (10,000 by default) over the four roles, then
reports the calls made and every failure, by operation and check, and writes bench/CONTRACT.md.

    .venv/bin/python bench/contract.py                 # >= 10,000 calls
    .venv/bin/python bench/contract.py --examples 50   # a given number per operation and mode

Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/api/test_schemathesis.py"
# Calls one example per operation and mode makes over the four roles (measured: ~500); the
# examples asked for are scaled from it, with a margin, and the count reached is reported.
CALLS_PER_EXAMPLE = 480


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls to make at least")
    parser.add_argument("--examples", type=int, help="examples per operation and mode")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "CONTRACT.md")
    return parser.parse_args(argv)


def run(examples: int, report_dir: Path) -> float:
    env = {
        **os.environ,
        "OPEN311_CONTRACT_EXAMPLES": str(examples),
        "OPEN311_CONTRACT_REPORT": str(report_dir),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
    command += [TEST, "-k", "own_contract"]
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=False)
    return time.monotonic() - started


def summarise(reports: list[dict], examples: int, seconds: float) -> str:
    calls = sum(report["calls"] for report in reports)
    failures = [failure for report in reports for failure in report["failures"]]
    # "METHOD path [mode]: check title: answer <- what was sent" -> "METHOD path [mode]: title"
    kinds = Counter(": ".join(failure.split(": ")[:2]) for failure in failures)
    lines = [
        "# Our own contract, fuzzed",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `.venv/bin/python bench/contract.py "
        f"--examples {examples}`: schemathesis against /openapi.json, positive and negative "
        "mode, every check, with a token of each staff role.",
        "",
        "| role | calls | failures |",
        "|---|---|---|",
    ]
    lines += [f"| {r['role']} | {r['calls']:,} | {len(r['failures'])} |" for r in reports]
    lines += [f"| **all** | **{calls:,}** | **{len(failures)}** |", ""]
    lines.append(f"{seconds:.0f} s on 2 pytest workers.")
    if failures:
        lines += ["", "## Failures by operation and check", ""]
        first = {}
        for failure in failures:
            first.setdefault(": ".join(failure.split(": ")[:2]), failure)
        for kind, count in kinds.most_common():
            lines += [f"- {count} × {kind}", f"  e.g. `{first[kind][:400]}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    examples = args.examples or max(1, -(-args.calls // CALLS_PER_EXAMPLE))
    with tempfile.TemporaryDirectory() as scratch:
        seconds = run(examples, Path(scratch))
        reports = [json.loads(path.read_text()) for path in sorted(Path(scratch).glob("*.json"))]
    if len(reports) != 4:
        print(f"only {len(reports)} of 4 roles reported; see the pytest output", file=sys.stderr)
        return 1
    text = summarise(reports, examples, seconds)
    args.out.write_text(text)
    print(text)
    calls = sum(report["calls"] for report in reports)
    if calls < args.calls and not args.examples:
        print(f"{calls} calls, fewer than {args.calls}: raise --examples", file=sys.stderr)
    return 1 if any(report["failures"] for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
