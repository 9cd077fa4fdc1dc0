"""JSON parsing that refuses documents nested deeper than a limit, without deep recursion."""

from __future__ import annotations

import json
from typing import Any


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than ``limit`` levels (``depth``: how deep
    it was found to go, 0 when the parser gave up before knowing)."""

    def __init__(self, depth: int, limit: int) -> None:
        self.depth = depth
        self.limit = limit
        found = f"{depth} levels deep" if depth else "too deep to parse"
        super().__init__(f"JSON nested {found}; at most {limit} levels are accepted")


def nesting_depth(value: Any) -> int:
    """The deepest array/object nesting of the parsed JSON ``value`` (0 for a scalar, 1 for
    ``[]``), walked with an explicit stack rather than recursion; visits every container and
    item once (strings are not scanned)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items: Any = node.values()
        elif isinstance(node, list):
            items = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return deepest


def loads_bounded(raw: bytes, *, max_depth: int) -> Any:
    """``json.loads(raw)``, refused when it nests more than ``max_depth`` levels.

    A hostile document (``[[[[...`` 200,000 deep) stops Python's parser at the interpreter's
    recursion limit (``RecursionError``, caught here); anything it parses is then measured by
    ``nesting_depth``, so what is returned is at most ``max_depth`` deep and safe to
    serialise again. Raises ``JsonTooDeep`` (a ``ValueError``), or ``ValueError`` /
    ``UnicodeDecodeError`` when ``raw`` is not JSON in UTF-8.
    """
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep(0, max_depth) from None
    depth = nesting_depth(value)
    if depth > max_depth:
        raise JsonTooDeep(depth, max_depth)
    return value
