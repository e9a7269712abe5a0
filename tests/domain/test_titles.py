"""A title cut from the start of a description: the same from the text's start alone as
from the whole text (the hot path reads only a prefix)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from src.domain.tender.schemas import TITLE_FROM_DESCRIPTION_CHARS, title_from_description


def _whole_text_title(description: str | None) -> str | None:
    """The definition: spaces collapsed in the whole text, then cut at a word boundary."""
    if not description:
        return None
    text = re.sub(r"\s+", " ", description).strip()
    if len(text) <= TITLE_FROM_DESCRIPTION_CHARS:
        return text or None
    cut = text[:TITLE_FROM_DESCRIPTION_CHARS]
    space = cut.rfind(" ")
    if space > TITLE_FROM_DESCRIPTION_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


_PIECES = st.one_of(
    st.text(alphabet="abcdé,.;:-", min_size=1, max_size=30),
    st.text(alphabet=" \t\r\n\u00a0\u2003", min_size=1, max_size=900),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=80).map("".join))
def test_a_title_from_the_start_is_the_title_from_the_whole(description: str) -> None:
    assert title_from_description(description) == _whole_text_title(description)


def test_long_runs_of_spaces_before_the_words() -> None:
    words = " ".join(["parola"] * 60)
    for description in (" " * 5000 + words, "a" + "\n" * 3000 + words, words + " " * 9000):
        assert title_from_description(description) == _whole_text_title(description)
    assert title_from_description("   \n\t ") is None
