"""Time per KB of parsing one AddMsgList entry: pathological shapes next to a normal message
of the same size (issue 8: the parse must be linear and bounded).

Run: ``.venv/bin/python benchmarks/parser_bench.py [--sizes 8,32,128] [--repeat 5]``.

For each size (KB of Content) it times ``parse_message`` (best of ``--repeat``) on:

* ``text, normal``: a text of words, emoji spans and ``<br/>`` (the baseline for text);
* ``text, unterminated emoji span``: ``<span class="emoji emoji1f600"`` and then only
  whitespace, the shape that made the old span regex backtrack quadratically;
* ``appmsg, normal``: a 49/5 link whose description fills the size (the baseline for XML);
* ``appmsg, deeply nested``: ``<msg>`` holding ``<x>`` nested as deep as the size allows
  (refused past the depth bound, so it becomes "unsupported");
* ``appmsg, many elements``: a flat ``<msg>`` with thousands of empty elements (refused past
  the element bound).

The last column, for reference, times the old emoji-span regex (two ``\\s*`` around optional
tokens) on the unterminated span, up to 32 KB (it grows with the square of the size).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.wechat.client.parse import parse_message
from adapters.wechat.client.types import UserName

ME = UserName("@self")
OLD_EMOJI_SPAN = re.compile(
    r"""<span\s+class\s*=\s*["']emoji\s+emoji([0-9a-fA-F]{1,12})\s*["']\s*/?>?\s*</span>"""
)


def entry(msg_type: int, content: str, **extra: object) -> dict[str, object]:
    return {
        "MsgId": "7000000000000000001",
        "FromUserName": "@peer",
        "ToUserName": ME,
        "MsgType": msg_type,
        "Content": content,
        "CreateTime": 1600000000,
        **extra,
    }


def fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def shapes(size: int) -> dict[str, dict[str, object]]:
    link = (
        '&lt;msg&gt;&lt;appmsg appid="" sdkver="0"&gt;&lt;title&gt;A link&lt;/title&gt;'
        "&lt;des&gt;{des}&lt;/des&gt;&lt;type&gt;5&lt;/type&gt;"
        "&lt;url&gt;https://example.org/a&lt;/url&gt;&lt;/appmsg&gt;&lt;/msg&gt;"
    )
    frame = len(link.format(des=""))
    nest = max(1, (size - 22) // 22)
    return {
        "text, normal": entry(
            1, fill('hello world <span class="emoji emoji1f600"></span> again<br/>', size)
        ),
        "text, unterminated emoji span": entry(
            1, '<span class="emoji emoji1f600"' + " " * (size - 30)
        ),
        "appmsg, normal": entry(
            49, link.format(des=fill("words and more words ", size - frame)), AppMsgType=5
        ),
        "appmsg, deeply nested": entry(
            49, "&lt;msg&gt;" + "&lt;x&gt;" * nest + "&lt;/x&gt;" * nest + "&lt;/msg&gt;"
        ),
        "appmsg, many elements": entry(
            49, "&lt;msg&gt;" + fill("&lt;e/&gt;", size - 22) + "&lt;/msg&gt;"
        ),
    }


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,32,128", help="Content sizes in KB")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("parse_message, best of", args.repeat, "- microseconds per KB of Content")
    header = f"{'shape':32}" + "".join(f"{str(kb) + ' KB':>12}" for kb in sizes)
    print(header + f"{'result':>16}")
    rows: dict[str, list[float]] = {}
    results: dict[str, str] = {}
    for kb in sizes:
        for name, raw in shapes(kb * 1024).items():
            seconds = best(lambda raw=raw: parse_message(raw, ME), args.repeat)
            rows.setdefault(name, []).append(seconds * 1e6 / kb)
            results[name] = type(parse_message(raw, ME)).__name__
    for name, per_kb in rows.items():
        print(f"{name:32}" + "".join(f"{v:12.1f}" for v in per_kb) + f"{results[name]:>16}")
    old = []
    for kb in sizes:
        if kb > 32:
            old.append("    (skipped)")
            continue
        text = '<span class="emoji emoji1f600"' + " " * (kb * 1024 - 30)
        seconds = best(lambda text=text: OLD_EMOJI_SPAN.sub("", text), 1)
        old.append(f"{seconds * 1e6 / kb:12.1f}")
    print(f"{'old span regex, unterminated':32}" + "".join(old))


if __name__ == "__main__":
    main()
