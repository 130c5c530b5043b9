"""The README's own walk-through, as printed, against the cluster: every line through nginx to
either app node, reads from the replica, writes to the primary, with plain curl (no cookie kept:
a write is on the replica before its answer, remote_apply)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import redis

from open311.cluster.topology import Topology
from tests.cluster.conftest import open311
from tests.e2e.test_readme import run, shell_blocks


def test_every_try_it_line_succeeds_through_the_cluster(topology: Topology, tmp_path: Path):
    (tmp_path / "var").mkdir()
    key = open311(topology, "apikey", "create", "readme-walkthrough").strip()
    (tmp_path / "var" / "demo-api-key").write_text(key + "\n")
    with closing(redis.Redis.from_url(topology.redis().url())) as counts:
        counts.flushdb()  # a fresh minute for this address, whatever the tests before did
    block = shell_blocks("Try it")[0]
    assert block.count("curl ") >= 20
    strict = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n' + block
    result = run(strict, f"{topology.url}/open311/v2", tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '[{"code":' not in result.stdout and "<errors>" not in result.stdout
    assert "1-870704831" in result.stdout  # the imported history answers too
