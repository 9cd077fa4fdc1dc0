"""The one way tests read the captured payloads in ``tests/data/wechat`` (README.md there).

A missing file raises ``FileNotFoundError`` (the test fails; nothing skips). Every load is
recorded: in :data:`LOADED` for this process and, when the environment variable
``CHATBRIDGE_SAMPLE_LOG`` names a file, appended to it one name per line, which is how
``test_samples_covered`` learns which samples a run of the sample tests actually loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "wechat"
LOG_ENV = "CHATBRIDGE_SAMPLE_LOG"
LOADED: set[str] = set()


def all_names() -> list[str]:
    """Every sample file name (the README excluded), sorted."""
    return sorted(p.name for p in DATA.iterdir() if p.is_file() and p.name != "README.md")


def path(name: str) -> Path:
    """The path of sample ``name``, recorded as loaded; FileNotFoundError when it is absent."""
    file = DATA / name
    if not file.is_file():
        raise FileNotFoundError(f"sample {name} is missing from {DATA}")
    LOADED.add(name)
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(name + "\n")
    return file


def text(name: str) -> str:
    """The sample's text (UTF-8) as stored."""
    return path(name).read_text(encoding="utf-8")


def load(name: str) -> Any:
    """The sample parsed as JSON."""
    return json.loads(text(name))
