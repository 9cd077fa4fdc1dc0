"""JSON parsing with a nesting limit checked before the recursive parser runs."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: String literals, escapes included (the unrolled form keeps the regex linear and fast).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Every byte that is not a bracket, deleted before counting.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed (``depth`` > ``limit``)."""

    def __init__(self, depth: int, limit: int) -> None:
        self.depth = depth
        self.limit = limit
        super().__init__(f"JSON nested {depth} levels deep; at most {limit} are accepted")


def nesting_depth(raw: bytes) -> int:
    """The deepest array/object nesting of the JSON text ``raw`` (0 for a scalar), found
    without recursion: string literals are removed, then the brackets are counted.

    On malformed JSON the figure is meaningless but finite (``json.loads`` reports the error).
    Linear in ``len(raw)``; ~50 ms for 10 MB.
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_DELTA.__getitem__, brackets))))


def loads_bounded(raw: bytes, *, max_depth: int) -> Any:
    """``json.loads(raw)`` after checking its nesting is at most ``max_depth`` levels, so a
    hostile document (``[[[[...`` 200,000 deep) is refused instead of exhausting the
    interpreter's recursion limit.

    Raises ``JsonTooDeep`` (a ``ValueError``) when it nests deeper, ``ValueError`` /
    ``UnicodeDecodeError`` when it is not JSON in UTF-8. ``max_depth`` must stay well below
    ``sys.getrecursionlimit()`` (the C parser recurses once per level).
    """
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonTooDeep(depth, max_depth)
    try:
        return json.loads(raw)
    except RecursionError as exc:  # only when called already deep in the stack
        raise JsonTooDeep(depth, max_depth) from exc
