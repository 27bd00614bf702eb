"""The HTML report's plots read well for any span of data: a log of one day, one week or
one year gets a time axis over that span, with a tick or more and readable labels."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from matplotlib import dates
from matplotlib.axes import Axes

from feedback.record import CompletionRecord
from feedback.report import figures, write_html_report
from feedback.stats import compute_stats
from feedback.store import FeedbackStore

START = datetime(2025, 3, 10, 12, 0)  # local noon: the same day in every zone
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    with FeedbackStore(tmp_path / "feedback.sqlite3") as s:
        yield s


def log_days(store: FeedbackStore, days: int, every: int = 1) -> FeedbackStore:
    """Two shown suggestions (one accepted) a day, every `every` days over `days` days."""
    for n in range(0, days, every):
        t = (START + timedelta(days=n)).timestamp()
        for i, outcome in enumerate(("accepted", "dismissed")):
            store.record(CompletionRecord(id=f"{n}-{i}", time=t + i, language="python",
                                          trigger="typed", chars=10, shown=True,
                                          gate2_decision="shown", total_ms=100.0))
            store.set_outcome(f"{n}-{i}", outcome)
    return store


def day_axes(store: FeedbackStore) -> list[Axes]:
    """The axes of the two plots by day (acceptance, shown and hidden), drawn."""
    found = []
    for title, figure in figures(compute_stats(store)):
        if "by day" in title:
            assert figure is not None, title
            figure.canvas.draw()
            found.append(figure.axes[0])
    assert len(found) == 2
    return found


def span_days(ax: Axes) -> float:
    low, high = ax.get_xlim()
    return high - low


def labels(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def test_one_day_shows_that_day(store: FeedbackStore) -> None:
    day = dates.date2num(START.date())
    for ax in day_axes(log_days(store, 1)):
        low, high = ax.get_xlim()
        assert low <= day - 0.5 and day + 0.5 <= high  # ±12 h at least
        assert span_days(ax) <= 2  # not years around it
        assert labels(ax) == ["Mon 10 Mar 2025"]


def test_one_week_has_a_tick_a_day_or_so(store: FeedbackStore) -> None:
    for ax in day_axes(log_days(store, 7)):
        assert 7 <= span_days(ax) <= 9
        ticks = ax.get_xticks()
        assert 3 <= len(ticks) <= 9 and min(b - a for a, b in pairwise(ticks)) >= 1
        assert not any(":" in label for label in labels(ax))  # days, not hours


def test_one_year_has_month_ticks(store: FeedbackStore) -> None:
    for ax in day_axes(log_days(store, 366, every=5)):
        assert 365 <= span_days(ax) <= 400
        ticks = ax.get_xticks()
        assert 3 <= len(ticks) <= 9
        # Concise labels: the months, with the year said where it changes.
        assert any(label in ("Apr", "May", "Jul", "Sep") for label in labels(ax)), labels(ax)
        assert "2026" in labels(ax)


def png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image's rows: a blank
    page is a handful of values, a page with plots and text hundreds."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    chunks, pos = [], 8
    while pos < len(png):
        length = struct.unpack(">I", png[pos:pos + 4])[0]
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            chunks.append(png[pos + 8:pos + 8 + length])
        pos += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("days,every", [(1, 1), (7, 1), (366, 5)])
def test_report_screenshot_is_not_blank(store: FeedbackStore, tmp_path: Path, days: int,
                                        every: int) -> None:
    assert CHROMIUM is not None
    page = write_html_report(log_days(store, days, every), tmp_path / "report.html")
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,2000", "--hide-scrollbars", page.as_uri()],
        capture_output=True, timeout=120, check=False, cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert shot.exists(), "chromium wrote no screenshot"
    width, height, colours = png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1200, 2000)
    assert colours > 50
