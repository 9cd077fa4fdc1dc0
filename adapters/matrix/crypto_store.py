"""The bot device's crypto store folder on disk: where it is, its 0700/0600 modes, the
remembered device id."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.secretfiles import create_secret_file

#: The olm machine's SQLite file inside the crypto store folder.
STORE_NAME = "crypto.db"
#: The device id the homeserver gave the bot's first login, kept for the next ones.
DEVICE_ID_FILE = "device_id"


def store_folder(database: Path) -> Path:
    """The crypto store folder of the bridge whose SQLite database is ``database``: beside
    it, named ``<database file name>-crypto``."""
    return database.with_name(f"{database.name}-crypto")


def prepare_folder(folder: Path) -> None:
    """Create the crypto store ``folder`` (0700) with an empty 0600 database file, and make
    the files already in it 0600. Raises ``OSError``."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    # SQLite gives its journal files the mode of the database file: 0600 from the start.
    create_secret_file(folder / STORE_NAME)
    secure_files(folder)


def secure_files(folder: Path) -> None:
    """Make every file in ``folder`` that others could read or write 0600 (nio creates its
    store files with the process umask). Raises ``OSError``."""
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


def saved_device_id(folder: Path) -> str:
    """The device id remembered in ``folder`` ("" before the first login)."""
    path = folder / DEVICE_ID_FILE
    return path.read_text().strip() if path.exists() else ""


def save_device_id(folder: Path, device_id: str) -> None:
    """Remember ``device_id`` in ``folder`` (a 0600 file) for the next logins."""
    path = folder / DEVICE_ID_FILE
    create_secret_file(path)
    path.write_text(device_id + "\n")
