"""``MediaSpool``: files waiting for delivery, named by their SHA-256, beside the database."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from pathlib import Path

from bridge.errors import StoreError

log = logging.getLogger(__name__)

_NAME = re.compile(r"[0-9a-f]{64}")


class MediaSpool:
    """A folder of files, each named by the SHA-256 (lowercase hex) of its bytes.

    The journal never holds a file's bytes: an inbound file is written here (``put``) before
    its journal entry commits and the entry names it by hash; the delivery reads it back
    (``get``) and removes it once delivered (``discard``). Writes are atomic (a temporary
    file renamed into place) and fsynced, so a committed entry never points at half a file.
    The folder is created 0700 and the files 0600: they are the users' messages.
    Blocking file I/O runs in a worker thread.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        #: Held while a file is spooled and its entry committed, and while a delivered
        #: entry's file is checked for other users and removed: neither sees half the other.
        self.lock = asyncio.Lock()

    def _path(self, sha256: str) -> Path:
        if not _NAME.fullmatch(sha256):
            raise StoreError(f"not a spooled file's name: {sha256[:70]!r}")
        return self.folder / sha256

    async def put(self, data: bytes) -> str:
        """Store ``data``; returns its SHA-256 hex name. Raises ``StoreError``."""
        return await asyncio.to_thread(self._put, data)

    def _put(self, data: bytes) -> str:
        name = hashlib.sha256(data).hexdigest()
        path = self._path(name)
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size == len(data):
                os.utime(path)  # a fresh mtime keeps it from the sweep of old orphans
                return name
            tmp = self.folder / f".{name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            raise StoreError(f"cannot spool a file of {len(data)} bytes: {e}") from e
        return name

    async def get(self, sha256: str) -> bytes | None:
        """The bytes named ``sha256``, or ``None`` when there is no such file (or its
        contents no longer match the name). Raises ``StoreError`` on a read error."""
        return await asyncio.to_thread(self._get, sha256)

    def _get(self, sha256: str) -> bytes | None:
        path = self._path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"cannot read spooled file {sha256[:12]}…: {e}") from e
        if hashlib.sha256(data).hexdigest() != sha256:
            log.warning("spooled file %s… is corrupt; dropped", sha256[:12])
            return None
        return data

    async def discard(self, sha256: str) -> None:
        """Remove the file named ``sha256`` if it exists. Never raises (a leftover file is
        removed by ``sweep`` later)."""
        try:
            await asyncio.to_thread(self._path(sha256).unlink, missing_ok=True)
        except (OSError, StoreError) as e:
            log.warning("cannot remove spooled file %s…: %s", sha256[:12], e)

    def names(self) -> list[str]:
        """The names of the files in the spool."""
        try:
            return sorted(p.name for p in self.folder.iterdir() if _NAME.fullmatch(p.name))
        except FileNotFoundError:
            return []

    def older_than(self, age_s: float) -> list[str]:
        """The names of the files last written more than ``age_s`` seconds ago."""
        limit = time.time() - age_s
        old: list[str] = []
        for name in self.names():
            try:
                if (self.folder / name).stat().st_mtime < limit:
                    old.append(name)
            except FileNotFoundError:
                continue
        return old
