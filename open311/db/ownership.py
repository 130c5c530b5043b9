"""Directories handed to the system user a server runs as (PostgreSQL, Redis, pgbouncer and
Patroni refuse root, or should not have it): made, owned by that user, and reachable by it."""

from __future__ import annotations

import shutil
from pathlib import Path


def hand_over(directory: Path, user: str | None) -> None:
    """Make `directory` (and its parents) and give it to `user`, who must be able to walk down
    to it: each parent it cannot enter gets o+x (search only: it cannot list them). None: the
    directory is made, and stays ours."""
    directory.mkdir(parents=True, exist_ok=True)
    if user is None:
        return
    shutil.chown(directory, user, user)
    for parent in directory.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
