"""Fitting remote values to the homeserver's limits: names shortened, long texts split."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

#: Synapse refuses longer display names (``MAX_DISPLAYNAME_LEN``, counted in code points).
MAX_DISPLAYNAME_CHARS = 256
#: The spec's ceiling for ``m.room.name`` ("MUST NOT exceed 255 bytes", UTF-8).
MAX_ROOM_NAME_BYTES = 255
#: Largest ``content`` of one message event, as UTF-8 JSON. A whole event may take 64 KiB
#: (Synapse ``MAX_PDU_SIZE``); the rest is left to the envelope (ids, hashes, signatures,
#: auth and prev events), a reply relation and the ``m.mentions``.
MAX_MESSAGE_CONTENT_BYTES = 32 * 1024
ELLIPSIS = "…"

#: Characters that belong to the one before them: combining marks are checked separately.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")
#: Keys of a text message's rich form, left out of the parts of a split one (HTML cannot be
#: cut at an arbitrary point without breaking its tags).
_FORMAT_KEYS = ("format", "formatted_body")


def _attached(char: str) -> bool:
    """Whether ``char`` must stay with the character before it (a combining mark, a
    variation selector, a zero-width joiner, an emoji skin tone modifier)."""
    return (
        char in _JOINERS or unicodedata.combining(char) != 0 or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def _boundary(text: str, end: int) -> int:
    """``end`` moved back so that ``text[:end]`` does not split a character from the marks,
    joiners or selectors that follow it (a ZWJ emoji sequence backs off whole)."""
    start = end
    while 0 < end < len(text) and (_attached(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    return end if end > 0 else start


def fit_text(
    text: str, *, max_chars: int | None = None, max_bytes: int | None = None, suffix: str = ""
) -> str:
    """``text`` shortened to at most ``max_chars`` code points and ``max_bytes`` UTF-8 bytes
    (counting ``suffix``, which is kept whole after it), ending in ``…`` when cut; cut on a
    character boundary (``_boundary``). ``text + suffix`` unchanged if it fits."""
    whole = text + suffix
    chars_ok = max_chars is None or len(whole) <= max_chars
    if chars_ok and (max_bytes is None or len(whole.encode()) <= max_bytes):
        return whole
    room_chars = len(text) if max_chars is None else max_chars - len(suffix) - len(ELLIPSIS)
    end = max(0, min(len(text), room_chars))
    if max_bytes is not None:
        budget = max_bytes - len((suffix + ELLIPSIS).encode())
        while end > 0 and len(text[:end].encode()) > budget:
            # Drop about the excess at once, then fine-tune character by character.
            excess = len(text[:end].encode()) - budget
            end -= max(1, excess // 4)
        end = max(end, 0)
    end = _boundary(text, end)
    return text[:end].rstrip() + ELLIPSIS + suffix


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _cost(char: str) -> int:
    """Bytes ``char`` takes inside a JSON string in UTF-8."""
    if char in '"\\':
        return 2
    if char < " ":
        return 2 if char in "\n\r\t\b\f" else 6
    return len(char.encode("utf-8", "surrogatepass"))


def _split_text(body: str, budget: int) -> list[str]:
    """``body`` cut into pieces each at most ``budget`` bytes as a JSON string, preferring
    to end a piece at a line break, else at a space, else on a character boundary."""
    pieces: list[str] = []
    start = 0
    while start < len(body):
        used, end = 0, start
        while end < len(body):
            cost = _cost(body[end])
            if used + cost > budget:
                break
            used += cost
            end += 1
        if end < len(body):
            window = body[start:end]
            cut = window.rfind("\n", len(window) * 3 // 4)
            if cut < 0:
                cut = window.rfind(" ", len(window) * 9 // 10)
            end = start + cut + 1 if cut >= 0 else _boundary(body, end)
            if end <= start:  # one character over the budget on its own: cannot happen
                end = start + 1
        pieces.append(body[start:end])
        start = end
    return pieces


def fits(content: Mapping[str, Any], *, max_bytes: int = MAX_MESSAGE_CONTENT_BYTES) -> bool:
    """Whether the event ``content`` takes at most ``max_bytes`` as UTF-8 JSON."""
    return _json_bytes(content) <= max_bytes


def split_message(
    content: Mapping[str, Any], *, max_bytes: int = MAX_MESSAGE_CONTENT_BYTES
) -> list[dict[str, Any]]:
    """``content`` of an ``m.room.message`` as one or more contents, each at most
    ``max_bytes`` as UTF-8 JSON, so that a long text arrives as several events instead of
    failing with ``M_TOO_LARGE`` (Synapse's 64 KiB per event, ``MAX_PDU_SIZE``).

    A content that fits is returned as is (one item). A longer one loses its HTML form
    (``formatted_body``) and its ``body`` is cut (``_split_text``); ``m.mentions`` and any
    other key stay on the first part only, later parts are plain ``msgtype`` + ``body``.
    """
    if fits(content, max_bytes=max_bytes):
        return [dict(content)]
    body = content.get("body")
    if not isinstance(body, str):
        return [dict(content)]
    first = {k: v for k, v in content.items() if k not in _FORMAT_KEYS and k != "body"}
    overhead = _json_bytes({**first, "body": ""})
    pieces = _split_text(body, max(1024, max_bytes - overhead))
    msgtype = content.get("msgtype", "m.text")
    parts = [{**first, "body": pieces[0]}]
    parts += [{"msgtype": msgtype, "body": piece} for piece in pieces[1:]]
    return parts
