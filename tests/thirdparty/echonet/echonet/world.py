"""Echonet's "servers": a folder shared by the adapter and whoever plays the other people.

Layout of a world folder:

- ``inbox/<n>-<id>.json``: messages waiting to reach the account, ``{"chat", "sender",
  "text"}``; the adapter deletes a file once the bridge acknowledged it (so an
  unacknowledged one arrives again after a restart).
- ``sent.jsonl``: what the account sent, one JSON object a line: ``{"id", "chat", "text",
  "reply_to"}``, or ``{"revoke": id}`` for a recall.

Writes are atomic (a temporary file renamed into place), so two processes can share it.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

_numbers = itertools.count()


@attrs.frozen
class Inbound:
    """One message of the inbox: its file, id, chat, sender and text."""

    path: Path
    id: str
    chat: str
    sender: str
    text: str
    timestamp: float


@attrs.frozen
class Sent:
    """One message the account sent, as the other side sees it."""

    id: str
    chat: str
    text: str
    reply_to: str | None = None
    revoked: bool = False


@attrs.frozen
class World:
    """A world folder (created on first use)."""

    folder: Path

    @property
    def inbox(self) -> Path:
        """The folder of messages waiting for the account."""
        path = self.folder / "inbox"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def deliver(self, chat: str, text: str, *, sender: str | None = None) -> str:
        """Put a message from ``sender`` (default: the chat's contact) into ``chat`` in the
        inbox; returns its id."""
        message_id = f"in{uuid.uuid4().hex[:12]}"
        body = {"chat": chat, "sender": sender or chat, "text": text, "ts": time.time()}
        name = f"{time.time_ns():020d}-{next(_numbers):06d}-{message_id}.json"
        tmp = self.inbox / f".{name}.tmp"
        tmp.write_text(json.dumps(body), encoding="utf-8")
        tmp.rename(self.inbox / name)
        return message_id

    def waiting(self) -> Iterator[Inbound]:
        """The inbox, oldest first; unreadable files are skipped."""
        for path in sorted(self.inbox.glob("*.json")):
            try:
                body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                yield Inbound(
                    path,
                    path.stem.rsplit("-", 1)[-1],
                    str(body["chat"]),
                    str(body["sender"]),
                    str(body["text"]),
                    float(body.get("ts", time.time())),
                )
            except (OSError, ValueError, KeyError):
                continue

    def record(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to ``sent.jsonl``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry) + "\n"
        fd = os.open(self.folder / "sent.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def sent(self) -> list[Sent]:
        """What the account sent, oldest first, recalls applied."""
        path = self.folder / "sent.jsonl"
        if not path.exists():
            return []
        found: dict[str, Sent] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "revoke" in entry:
                old = found.get(entry["revoke"])
                if old is not None:
                    found[old.id] = attrs.evolve(old, revoked=True)
            else:
                found[entry["id"]] = Sent(
                    entry["id"], entry["chat"], entry["text"], entry.get("reply_to")
                )
        return list(found.values())
