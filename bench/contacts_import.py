"""A phone switch's call-detail records imported at size (`open311 contacts import`), timed.

Runs tests/db/test_contacts_import.py's at-size test on a throwaway PostgreSQL (as the suite
does) with N made-up records: the file loaded into an empty city, then loaded again (nothing
changes), and prints the time of each.

    .venv/bin/python bench/contacts_import.py                 # 100,000 rows
    .venv/bin/python bench/contacts_import.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/db/test_contacts_import.py::test_a_switchs_export_at_size"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="call-detail records")
    args = parser.parse_args(argv)
    env = {**os.environ, "OPEN311_CONTACTS_IMPORT_ROWS": str(args.rows)}
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
