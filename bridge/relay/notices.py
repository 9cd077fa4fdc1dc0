"""The texts of the notices the relay sends when something could not be done."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.model import Content, Link, Location, Media, Notice, Text

QUOTE_CHARS = 40


def quote(content: Content | None) -> str:
    """A short quote naming a message: its text cut to ``QUOTE_CHARS``, or its kind."""
    match content:
        case Text(body=body) | Notice(text=body):
            text = " ".join(body.split())
            cut = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
            return f"“{cut}”"
        case Media(kind=kind, filename=filename):
            return f"[{kind.value}{': ' + filename if filename else ''}]"
        case Location(label=label):
            return f"[location{': ' + label if label else ''}]"
        case Link(url=url):
            return f"[link: {url}]"
        case None:
            return "a message"


def not_delivered(content: Content | None, target: str, reason: str) -> Notice:
    """Your message ``content`` did not reach ``target`` (a channel name) because ``reason``."""
    return Notice(f"⚠ Not delivered to {target}: {quote(content)} — {reason}")


def not_revoked(content: Content | None, target: str, reason: str) -> Notice:
    """The recall of ``content`` could not be carried out on ``target`` because ``reason``."""
    return Notice(f"⚠ Could not recall {quote(content)} on {target}: {reason}")


def held(sender: str, candidates: Sequence[str], target: str) -> Notice:
    """A message from ``sender`` is held until the user says which contact this chat is."""
    names = ", ".join(candidates) or "several contacts"
    return Notice(
        f"⏸ A message from {sender} is waiting: after the {target} re-login this chat could be "
        f"any of {names}. Use the bot's 'resolve' command to say which one it is; held "
        "messages are delivered then."
    )
