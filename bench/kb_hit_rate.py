"""The knowledge-base search measured: hit rate per question, latency and plans at size.

Runs tests/db/test_article_search_hit_rate.py's bench test on a throwaway PostgreSQL (as the
suite does): the demo KBs of Austin and Los Angeles are seeded, tests/data/kb_questions.yaml is
asked (one line per question: the rank of the expected article, what came first), then Austin's
KB is grown by made-up articles in en, es, vi and ar and the questions are asked again three
times for the hit rate and the p50/p99 latency at that size, with EXPLAIN ANALYZE of three
searches showing the GIN indexes (full text and trigram) in use.

    .venv/bin/python bench/kb_hit_rate.py                 # 5,000 more articles x 4 languages
    .venv/bin/python bench/kb_hit_rate.py --articles 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/db/test_article_search_hit_rate.py::test_bench_hit_rate_latency_and_plans"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000, help="made-up articles to add")
    args = parser.parse_args(argv)
    env = {**os.environ, "OPEN311_KB_BENCH": str(args.articles)}
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
