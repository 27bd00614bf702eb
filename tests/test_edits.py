"""Recent edits: hunks of the file as it reads now, the newest replacing those it overlaps."""

from __future__ import annotations

from context.edits import RecentEdits

TEXT = "\n".join(f"line {i}" for i in range(30))


def spans(edits: RecentEdits) -> list[tuple[str, int, int]]:
    return [(e.path, e.start_line, e.end_line) for e in edits.newest_first()]


def test_a_hunk_is_the_changed_lines_with_context() -> None:
    edits = RecentEdits(context_lines=1)
    edits.record("a.py", TEXT, 10, 11)
    [edit] = edits.newest_first()
    assert (edit.path, edit.start_line, edit.end_line) == ("a.py", 9, 12)
    assert edit.text == "line 9\nline 10\nline 11\nline 12"


def test_context_is_clamped_to_the_file() -> None:
    edits = RecentEdits(context_lines=3)
    edits.record("a.py", TEXT, 0, 0)
    edits.record("b.py", TEXT, 29, 40)  # a change past the end (lines deleted since)
    assert spans(edits) == [("b.py", 26, 29), ("a.py", 0, 3)]
    assert edits.newest_first()[1].text == "line 0\nline 1\nline 2\nline 3"


def test_overlapping_records_merge_into_the_newest() -> None:
    edits = RecentEdits(context_lines=1)
    edits.record("a.py", TEXT, 10, 10)
    typed = TEXT.replace("line 11", "line 11 typed")
    edits.record("a.py", typed, 11, 11)  # the next keystrokes, one line down
    assert spans(edits) == [("a.py", 10, 12)]
    assert edits.newest_first()[0].text == "line 10\nline 11 typed\nline 12"

    # Adjacent hunks are one place too.
    edits.record("a.py", typed, 14, 14)  # hunk 13-15, next to 10-12
    assert spans(edits) == [("a.py", 13, 15)]


def test_distant_records_and_other_files_are_kept_newest_first() -> None:
    edits = RecentEdits(context_lines=1)
    edits.record("a.py", TEXT, 2, 2)   # 1-3
    edits.record("a.py", TEXT, 20, 20)  # 19-21
    edits.record("b.py", TEXT, 2, 2)   # same lines, another file
    edits.record("a.py", TEXT, 6, 6)   # 5-7: one line apart from 1-3, not touching
    assert spans(edits) == [("a.py", 5, 7), ("b.py", 1, 3), ("a.py", 19, 21), ("a.py", 1, 3)]

    # One wide change swallows every hunk of its file it overlaps.
    edits.record("a.py", TEXT, 3, 19)
    assert spans(edits) == [("a.py", 2, 20), ("b.py", 1, 3)]


def test_a_blank_hunk_is_not_kept_but_still_replaces() -> None:
    edits = RecentEdits(context_lines=0)
    edits.record("a.py", TEXT, 5, 5)
    blanked = TEXT.replace("line 5", "   ")
    edits.record("a.py", blanked, 5, 5)  # the line was emptied
    assert edits.newest_first() == []


def test_keep_limit_drops_the_oldest() -> None:
    edits = RecentEdits(keep=3, context_lines=0)
    for i in range(5):
        edits.record(f"f{i}.py", TEXT, i, i)
    assert spans(edits) == [("f4.py", 4, 4), ("f3.py", 3, 3), ("f2.py", 2, 2)]
    # The limit holds after merges too.
    edits.record("f3.py", TEXT, 3, 3)
    edits.record("f9.py", TEXT, 9, 9)
    assert spans(edits) == [("f9.py", 9, 9), ("f3.py", 3, 3), ("f4.py", 4, 4)]


def test_newest_first_is_a_copy() -> None:
    edits = RecentEdits()
    edits.record("a.py", TEXT, 1, 1)
    snapshot = edits.newest_first()
    edits.record("b.py", TEXT, 1, 1)
    assert len(snapshot) == 1
    assert edits.newest_first()[1].at <= edits.newest_first()[0].at
