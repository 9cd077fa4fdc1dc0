"""Files that hold secrets: created 0600, and a warning when one is readable by others."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

#: Permission bits for a file holding a secret: read/write for its owner only.
SECRET_MODE = 0o600
#: SQLite's companion files of a database in WAL mode (created with the database's mode).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def create_secret_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True if it was created.

    ``os.open`` with ``O_EXCL`` and the mode, then ``fchmod`` (the umask can only remove
    bits), so the file is never readable by others, not even for a moment. Raises ``OSError``.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, SECRET_MODE)
    finally:
        os.close(fd)
    return True


def write_secret_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and 0600: a new file in the same folder,
    created with ``O_EXCL`` and the mode (``fchmod`` too: the umask can only remove bits),
    fsynced, renamed over ``path``, then the folder fsynced (best effort). The folder is
    created if missing. Raises ``OSError``; the temporary file is removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    try:
        os.fchmod(fd, SECRET_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def exposed(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """The existing files among ``paths`` that group or others may read or write, with their
    permission bits (e.g. ``0o644``). Missing files are left out."""
    found: list[tuple[Path, int]] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            found.append((path, mode))
    return found


def database_files(database: Path) -> list[Path]:
    """The SQLite database file ``database`` and its WAL, shared-memory and journal files."""
    return [database, *(database.with_name(database.name + s) for s in SQLITE_COMPANIONS)]


def warn_if_exposed(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """Log a warning for each file of ``paths`` readable by group or others (config with
    tokens, registration, database, sessions); returns them. Never raises."""
    found = exposed(paths)
    for path, mode in found:
        logger.warning(
            "%s holds secrets but is mode %04o (readable by others); run: chmod 600 %s",
            path,
            mode,
            path,
        )
    return found
