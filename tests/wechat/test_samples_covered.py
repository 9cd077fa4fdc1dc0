"""Every captured payload in ../shared/wechat/samples is replayed by at least one test."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "wechat" / "samples"
TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"samples not found at {SAMPLES}")
def test_every_sample_is_referenced_by_a_test() -> None:
    sources = "\n".join(
        path.read_text(encoding="utf-8", errors="replace") for path in TESTS.rglob("*.py")
    )
    samples = sorted(p.name for p in SAMPLES.iterdir() if p.is_file())
    assert samples, f"{SAMPLES} is empty"
    missing = [name for name in samples if name not in sources]
    assert not missing, f"samples no test under {TESTS} refers to: {missing}"
