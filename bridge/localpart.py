"""Reversible escaping of remote identities into Matrix user localparts (ghost user ids)."""

from __future__ import annotations

import re

#: Matrix spec "User Identifiers": characters allowed in a user localpart.
LOCALPART_CHARS = re.compile(r"[a-z0-9._=\-/+]+")


def escape_localpart(text: str) -> str:
    """Encode ``text`` into localpart-safe characters, reversibly: ``A``->``_a``, ``_``->``__``,
    other characters outside ``[a-z0-9.=-/+]`` -> ``=xx`` per UTF-8 byte (lowercase hex)."""
    out: list[str] = []
    for ch in text:
        if ch == "_":
            out.append("__")
        elif "A" <= ch <= "Z":
            out.append("_" + ch.lower())
        elif ch == "=" or not LOCALPART_CHARS.fullmatch(ch):
            out.extend(f"={b:02x}" for b in ch.encode())
        else:
            out.append(ch)
    return "".join(out)


def unescape_localpart(text: str) -> str | None:
    """The ``text`` that ``escape_localpart`` turned into ``text``; ``None`` when ``text`` is
    no output of it (a lone ``_``, a bad ``=xx``, invalid UTF-8)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "_":
            nxt = text[i + 1 : i + 2]
            if nxt == "_":
                out += b"_"
            elif "a" <= nxt <= "z":
                out += nxt.upper().encode()
            else:
                return None
            i += 2
        elif ch == "=":
            code = text[i + 1 : i + 3]
            if len(code) != 2 or code.strip("0123456789abcdef"):
                return None
            out.append(int(code, 16))
            i += 3
        else:
            out += ch.encode()
            i += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None
