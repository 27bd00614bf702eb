"""UTF-16 positions and incremental sync, as the protocol defines them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from context.positions import (
    PositionError,
    chars_in_units,
    line_starts,
    offset_at,
    position_at,
    units_len,
)
from lsp.documents import Document


def test_emoji_counts_two_utf16_units() -> None:
    text = "a😀b\nc"
    assert offset_at(text, 0, 1) == 1
    assert offset_at(text, 0, 3) == 2  # after the emoji: 1 + 2 units
    assert offset_at(text, 0, 4) == 3
    assert position_at(text, 3) == (0, 4)


def test_position_inside_a_surrogate_pair_is_an_error() -> None:
    with pytest.raises(PositionError, match="surrogate"):
        offset_at("😀x", 0, 1)


def test_crlf_and_cr_end_lines_but_form_feed_does_not() -> None:
    text = "ab\r\ncd\ref\x0cgh\nij"
    assert offset_at(text, 1, 0) == 4
    assert offset_at(text, 2, 0) == 7
    assert offset_at(text, 2, 4) == 11  # "ef\x0cg": the form feed is an ordinary character
    assert offset_at(text, 3, 2) == len(text)
    assert position_at(text, 11) == (2, 4)


def test_end_of_line_is_valid_but_past_it_is_not() -> None:
    text = "abc\r\ndef"
    assert offset_at(text, 0, 3) == 3
    with pytest.raises(PositionError, match="past the end of line 0"):
        offset_at(text, 0, 4)  # the "\r" is not a character of the line
    with pytest.raises(PositionError, match="line 2 is past the end"):
        offset_at(text, 2, 0)
    with pytest.raises(PositionError):
        offset_at(text, -1, 0)


@given(st.text(alphabet=st.sampled_from(list("ab \n\r\t😀é\x0c")), max_size=40), st.data())
def test_position_roundtrip(text: str, data: st.DataObject) -> None:
    offset = data.draw(st.integers(min_value=0, max_value=len(text)))
    # Offsets inside "\r\n" have no position of their own.
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return
    line, character = position_at(text, offset)
    assert offset_at(text, line, character) == offset


def test_a_partial_acceptance_in_utf16_units_counts_characters() -> None:
    # acceptedLength comes in UTF-16 units: the emoji is two of them, one character.
    assert chars_in_units("x = '😀'", 6) == 5  # "x = '" and half the emoji: not reached
    assert chars_in_units("x = '😀'", 7) == 6
    assert chars_in_units("ab", 10) == 2


@given(st.text(alphabet=st.sampled_from(list("ab \n😀é")), max_size=30), st.data())
def test_utf16_prefix_lengths_round_trip(text: str, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert chars_in_units(text, units_len(text[:k])) == k


def test_incremental_changes_in_utf16_units() -> None:
    doc = Document("file:///x.py", "python", 1, "x = '😀'\r\nprint(x)\r\n")
    # Replace "print" (line 1, characters 0..5) and insert after the emoji.
    doc.apply_changes(
        [((1, 0), (1, 5), "log"), ((0, 7), (0, 7), "!")], version=2
    )
    assert doc.text == "x = '😀!'\r\nlog(x)\r\n"
    assert doc.version == 2


def test_a_change_that_does_not_fit_leaves_the_document_untouched() -> None:
    doc = Document("file:///x.py", "python", 1, "abc\n")
    with pytest.raises(PositionError):
        doc.apply_changes([((0, 0), (0, 1), "X"), ((5, 0), (5, 0), "Y")], version=2)
    assert doc.text == "abc\n"
    assert doc.version == 1
    assert doc.offset_at(1, 0) == 4  # the cached line starts were restored too


def test_whole_document_change() -> None:
    doc = Document("file:///x.py", "python", 1, "abc")
    doc.apply_changes([(None, None, "new\ntext")], version=5)
    assert doc.offset_at(1, 4) == len("new\ntext")


_EDIT_TEXT = st.text(alphabet=st.sampled_from(list("ab \n\r😀")), max_size=12)


@given(_EDIT_TEXT, st.lists(st.tuples(st.integers(0, 60), st.integers(0, 8), _EDIT_TEXT),
                            max_size=12))
def test_line_starts_kept_across_edits_are_those_of_the_text(
    text: str, edits: list[tuple[int, int, str]]
) -> None:
    # Kept up to date edit by edit (not found again in the whole text each keystroke).
    doc = Document("file:///x.py", "python", 1, text)
    for version, (at, length, new_text) in enumerate(edits, start=2):
        a = _position_boundary(doc.text, min(at, len(doc.text)))
        b = _position_boundary(doc.text, min(a + length, len(doc.text)))
        doc.apply_changes([(doc.position_at(a), doc.position_at(b), new_text)], version)
        assert doc.starts == line_starts(doc.text)


def _position_boundary(text: str, offset: int) -> int:
    """`offset`, moved off the middle of a "\r\n" (which has no position)."""
    inside = 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n"
    return offset - 1 if inside else offset
