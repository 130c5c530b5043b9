"""A whole knowledge base in and out, timed at size (domain/kb_exchange.py).

Runs tests/db/test_kb_exchange.py's round-trip test on a throwaway PostgreSQL (as the suite
does) with N made-up articles in en, es, vi and ar: load into an empty city, dump and render
YAML, parse and load into another city (checked equal), load the same again (nothing changes,
no revision), and prints the time of each.

    .venv/bin/python bench/kb_exchange.py                  # 1,000 articles x 4 languages
    .venv/bin/python bench/kb_exchange.py --articles 5000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/db/test_kb_exchange.py::test_a_knowledge_base_at_size_round_trips"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000, help="made-up articles")
    args = parser.parse_args(argv)
    env = {**os.environ, "OPEN311_KB_EXCHANGE_BENCH": str(args.articles)}
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
