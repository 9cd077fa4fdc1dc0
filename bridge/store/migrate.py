"""Numbered schema migrations, each applied in its own transaction, with a version table."""

from __future__ import annotations

import logging
import re
from importlib import resources

import attrs

from bridge.errors import SchemaTooNew, StoreError
from bridge.store.db import Database

log = logging.getLogger(__name__)

# ``001_initial.sql`` applies to every dialect; ``001_initial.sqlite.sql`` to SQLite only.
_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)(?:\.(?P<dialect>[a-z]+))?\.sql$")


@attrs.frozen
class Migration:
    """One step of the schema: ``version`` (1, 2, ...) reached by running ``sql``."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """The migrations shipped in ``bridge/store/migrations/`` for ``dialect``, by version.

    A dialect-specific file wins over a portable one of the same version. Raises
    ``StoreError`` if the versions are not 1..N without gaps.
    """
    chosen: dict[int, tuple[bool, Migration]] = {}
    for entry in resources.files("bridge.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match is None or match["dialect"] not in (None, dialect):
            continue
        version = int(match["version"])
        specific = match["dialect"] is not None
        if version in chosen and chosen[version][0] and not specific:
            continue
        chosen[version] = (specific, Migration(version, match["name"], entry.read_text("utf-8")))
    versions = sorted(chosen)
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migrations for {dialect} are not numbered 1..N: {versions}")
    return tuple(chosen[v][1] for v in versions)


async def schema_version(db: Database) -> int:
    """The version recorded in the database; 0 for an empty database."""
    async with db.transaction() as tx:
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await tx.fetchone("SELECT MAX(version) AS version FROM schema_version")
    return int(row["version"]) if row and row["version"] is not None else 0


async def migrate(db: Database, migrations: tuple[Migration, ...] | None = None) -> int:
    """Bring ``db`` to the newest schema; returns the version reached.

    Each migration runs in one transaction together with its version bump, so a failure
    leaves the database at the previous version. Raises ``SchemaTooNew`` if the database was
    written by a newer chatbridge, ``StoreError`` if a migration fails.
    """
    steps = load_migrations(db.dialect) if migrations is None else migrations
    supported = len(steps)
    current = await schema_version(db)
    if current > supported:
        raise SchemaTooNew(current, supported)
    for step in steps[current:]:
        async with db.transaction() as tx:
            row = await tx.fetchone("SELECT MAX(version) AS version FROM schema_version")
            found = int(row["version"]) if row and row["version"] is not None else 0
            if found >= step.version:
                continue  # another process migrated meanwhile
            try:
                await tx.execute_script(step.sql)
            except StoreError as e:
                raise StoreError(f"migration {step.version} ({step.name}) failed: {e}") from e
            await tx.execute("DELETE FROM schema_version")
            await tx.execute("INSERT INTO schema_version (version) VALUES ($1)", step.version)
        log.info("database migrated to schema %d (%s)", step.version, step.name)
    return max(current, supported)
