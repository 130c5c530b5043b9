"""Deleting stored files no photo row names: what a crash between writing a photo and
committing its request leaves behind (photos.kept removes them when it can; a killed process
cannot), and stray temporary files of interrupted saves.

Only files older than a grace period are considered, so the photos of a POST still in flight
(written, not yet committed) are never taken for orphans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from itertools import islice

from open311.media.storage import MediaStore

BATCH = 1000


def _batches(names: Iterable[str]) -> Iterable[list[str]]:
    iterator = iter(names)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def orphans(
    store: MediaStore,
    known: Callable[[Sequence[str]], set[str]],
    *,
    now: datetime,
    grace: timedelta,
) -> list[str]:
    """Names in `store` older than `grace` that `known` (which of these names rows hold) does
    not recognise."""
    old = (name for name, written in store.stored() if written <= now - grace)
    found: list[str] = []
    for batch in _batches(old):
        kept = known(batch)
        found += [name for name in batch if name not in kept]
    return found


def sweep(store: MediaStore, names: Iterable[str]) -> int:
    count = 0
    for name in names:
        store.delete(name)
        count += 1
    return count
