"""Where photo files live: a three-call interface (save, open, delete) and its local-directory
implementation; open311.media.s3.S3Store is the other, for an S3-compatible bucket."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

# The only names a store takes: what new_name() makes. Nothing with a slash or a dot-dot can
# match, so no name reaches outside the directory.
NAME = re.compile(r"^[A-Za-z0-9_-]{16,48}\.(jpg|png|webp)$")
# What DirectoryStore.save writes before renaming: left behind only by a crash mid-save.
TEMPORARY = re.compile(r"^\.[A-Za-z0-9_-]{16,48}\.(jpg|png|webp)\.[0-9a-f]{8}\.tmp$")


def new_name(extension: str) -> str:
    """A random file name (128 bits): a photo's URL cannot be guessed from anything else."""
    return secrets.token_urlsafe(16) + extension


def valid_name(name: str) -> bool:
    return bool(NAME.match(name))


class MediaStore(Protocol):
    """What the application needs of a place to keep photos."""

    def save(self, name: str, data: bytes) -> None:
        """Store `data` under `name`, all or nothing."""

    def open(self, name: str) -> BinaryIO:
        """The stored bytes; FileNotFoundError when there are none."""

    def delete(self, name: str) -> None:
        """Remove `name`; nothing happens when it is not there."""

    def stored(self) -> Iterator[tuple[str, datetime]]:
        """Every name kept (and every leftover of an interrupted save) with when it was
        written; what `open311 media sweep` compares with the `media` table."""


class DirectoryStore:
    """Files in one directory (created on first save), written to a temporary name next to
    their final one and renamed: a crash leaves a stray temporary file, never a half photo."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        if not valid_name(name):
            raise FileNotFoundError(name)
        return self.root / name

    def save(self, name: str, data: bytes) -> None:
        path = self._path(name)
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            with open(temporary, "xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def open(self, name: str) -> BinaryIO:
        return open(self._path(name), "rb")

    def delete(self, name: str) -> None:
        if TEMPORARY.match(name):  # a save's leftover, which only the sweep deletes
            with contextlib.suppress(FileNotFoundError):
                (self.root / name).unlink()
            return
        with contextlib.suppress(FileNotFoundError):
            self._path(name).unlink()

    def stored(self) -> Iterator[tuple[str, datetime]]:
        if not self.root.is_dir():
            return
        for entry in os.scandir(self.root):
            if entry.is_file() and (valid_name(entry.name) or TEMPORARY.match(entry.name)):
                yield entry.name, datetime.fromtimestamp(entry.stat().st_mtime, UTC)
