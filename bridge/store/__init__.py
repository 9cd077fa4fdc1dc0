"""Durable state: SQLite (default) behind small repositories; migrations; journal codec."""

from bridge.store.codec import CodecError
from bridge.store.db import Database, Executor, SqliteDatabase
from bridge.store.migrate import migrate, schema_version
from bridge.store.records import (
    EntryState,
    IdentityState,
    JournalEntry,
    Login,
    LoginState,
    MessageLink,
    Origin,
    Portal,
    Side,
    StoredIdentity,
)
from bridge.store.spool import MediaSpool
from bridge.store.store import Repositories, Store

__all__ = [
    "CodecError",
    "Database",
    "EntryState",
    "Executor",
    "IdentityState",
    "JournalEntry",
    "Login",
    "LoginState",
    "MediaSpool",
    "MessageLink",
    "Origin",
    "Portal",
    "Repositories",
    "Side",
    "SqliteDatabase",
    "Store",
    "StoredIdentity",
    "migrate",
    "schema_version",
]
