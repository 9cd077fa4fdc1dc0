"""Fitting values to the homeserver's limits: names cut on character boundaries, long texts
split into parts that each fit one event and together give the text back."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from adapters.matrix.fitting import ELLIPSIS, fit_text, fits, split_message

FAMILY = "👨\u200d👩\u200d👧"


@given(st.text(min_size=0, max_size=600), st.integers(min_value=2, max_value=300))
def test_a_fitted_name_is_a_prefix_plus_an_ellipsis_within_the_limits(
    name: str, limit: int
) -> None:
    fitted = fit_text(name, max_chars=limit, max_bytes=limit * 2)
    assert len(fitted) <= limit and len(fitted.encode("utf-8", "surrogatepass")) <= limit * 2
    if fitted != name:
        assert fitted.endswith(ELLIPSIS)
        assert name.startswith(fitted.removesuffix(ELLIPSIS))


def test_names_are_not_cut_inside_a_character_sequence() -> None:
    for unit in (FAMILY, "👍🏽", "e\u0301", "☺\ufe0f"):
        fitted = fit_text(unit * 100, max_chars=21)
        kept = fitted.removesuffix(ELLIPSIS)
        assert kept and len(kept) % len(unit) == 0, (unit, fitted)
        assert not unicodedata.combining(kept[0])
    assert fit_text("Carol", max_chars=11, suffix=" (WeChat)") == "C… (WeChat)"


@given(st.text(max_size=3000), st.integers(min_value=1024, max_value=4096))
def test_split_parts_each_fit_and_join_to_the_text(body: str, limit: int) -> None:
    content = {"msgtype": "m.text", "body": body, "format": "x", "formatted_body": body * 3}
    parts = split_message(content, max_bytes=limit)
    assert all(fits(p, max_bytes=limit) for p in parts) or parts == [content]
    if len(parts) > 1:
        assert "".join(p["body"] for p in parts) == body
        assert all("formatted_body" not in p for p in parts)


def test_a_100_kb_text_becomes_a_few_parts_cut_at_line_ends() -> None:
    text = "".join(f"line {n:05d}: the quick brown fox\n" for n in range(3000))
    parts = split_message({"msgtype": "m.text", "body": text, "m.mentions": {}})
    assert 3 <= len(parts) <= 5
    assert all(p["body"].endswith("\n") for p in parts)
    assert "m.mentions" in parts[0] and "m.mentions" not in parts[1]
    assert "".join(p["body"] for p in parts) == text
