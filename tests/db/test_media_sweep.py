"""`open311 media sweep` on a directory store and a database of its own (committed rows)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from open311.cli import main
from open311.db.models import Media
from open311.db.session import make_engine, make_session_factory
from tests.factories import make_jurisdiction, make_request, make_service
from tests.helpers import scratch_database

KEPT = "KeptKeptKeptKeptKeptKe.jpg"
KEPT_THUMB = "KeptThumbKeptThumbKept.jpg"
ORPHAN = "OrphanOrphanOrphanOrph.png"
FRESH = "FreshFreshFreshFreshFr.webp"  # unknown, but its POST may still be committing
LEFTOVER = f".{ORPHAN}.0123abcd.tmp"  # an interrupted save's temporary file
NOT_OURS = "notes.txt"
DAY = 24 * 3600


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            city = make_jurisdiction(session)
            request = make_request(session, make_service(session, city, "POT"))
            session.add(
                Media(
                    service_request_pk=request.id,
                    name=KEPT,
                    thumbnail_name=KEPT_THUMB,
                    content_type="image/jpeg",
                    size_bytes=6,
                    width=1,
                    height=1,
                    position=0,
                    created_at=request.requested_datetime,
                )
            )
            session.commit()
        engine.dispose()
        yield scratch


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    for name in (KEPT, KEPT_THUMB, ORPHAN, FRESH, LEFTOVER, NOT_OURS):
        (tmp_path / name).write_bytes(b"pixels")
        if name != FRESH:
            old = time.time() - 2 * DAY
            os.utime(tmp_path / name, (old, old))
    return tmp_path


def sweep(url: str, media_dir: Path, *args: str) -> Result:
    env = {"DATABASE_URL": url, "OPEN311_MEDIA_DIR": str(media_dir)}
    return CliRunner().invoke(main, ["media", "sweep", *args], env=env)


def test_dry_run_lists_old_orphans_and_deletes_nothing(url, media_dir):
    result = sweep(url, media_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert sorted(line.split()[-1] for line in result.output.splitlines()[:-1]) == sorted(
        [ORPHAN, LEFTOVER]
    )
    assert "2 orphan file(s) found" in result.output
    assert len(list(media_dir.iterdir())) == 6


def test_sweep_deletes_old_orphans_only(url, media_dir):
    result = sweep(url, media_dir)
    assert result.exit_code == 0, result.output
    assert "2 orphan file(s) deleted" in result.output
    assert sorted(path.name for path in media_dir.iterdir()) == sorted(
        [KEPT, KEPT_THUMB, FRESH, NOT_OURS]
    )


def test_a_longer_grace_keeps_everything(url, media_dir):
    result = sweep(url, media_dir, "--older-than-hours", "72")
    assert result.exit_code == 0 and "0 orphan file(s) deleted" in result.output
    assert len(list(media_dir.iterdir())) == 6
