"""The log as one self-contained HTML page: plots embedded as PNG, the stats as tables.

Plots are drawn on bare `Figure`s with the Agg canvas, never through pyplot, so making a
report neither needs a display nor touches matplotlib's global state.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from matplotlib import dates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from feedback.record import RETENTION_CHECKPOINTS
from feedback.stats import Stats, Table, checkpoint_label, compute_stats, tables
from feedback.store import FeedbackStore

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 2em; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2em 0.7em; text-align: right; }
th:first-child, td:first-child, .note { text-align: left; }
thead th { border-bottom: 1px solid #888; }
tbody + tbody { border-top: 1px solid #ccc; }
figure { margin: 1em 0 2em; }
figcaption { color: #555; }
"""


def write_html_report(store: FeedbackStore, path: Path, since: float | None = None) -> Path:
    path.write_text(render_report(compute_stats(store, since)), encoding="utf-8")
    return path


def render_report(stats: Stats) -> str:
    made = time.strftime("%Y-%m-%d %H:%M")
    scope = (f" since {time.strftime('%Y-%m-%d %H:%M', time.localtime(stats.since))}"
             if stats.since is not None else "")
    parts = [f"<h1>Tactful feedback</h1><p>{stats.overall.requests:,} completion requests"
             f"{scope}; report made {made}.</p>"]
    if not stats.overall.requests:
        parts.append("<p>No data yet: completions appear here once the editor has asked "
                     "for some.</p>")
    else:
        for title, figure in figures(stats):
            if figure is None:
                parts.append(f"<h2>{title}</h2><p>Not enough data for this plot yet.</p>")
            else:
                parts.append(f'<h2>{title}</h2><figure><img alt="{title}" '
                             f'src="data:image/png;base64,{_png(figure)}"></figure>')
        parts.extend(_html_table(table) for table in tables(stats))
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>Tactful feedback</title><style>{_STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def figures(stats: Stats) -> list[tuple[str, Figure | None]]:
    """The report's plots, titled; None where there is not enough data for one."""
    return [
        ("Acceptance rate by day", _acceptance_by_day(stats)),
        ("Shown and hidden by day", _shown_vs_hidden(stats)),
        ("Latency of shown suggestions", _latency_histogram(stats)),
        ("Retention of accepted text", _retention(stats)),
    ]


def _figure() -> Figure:
    figure = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _acceptance_by_day(stats: Stats) -> Figure | None:
    days = [(date.fromisoformat(d), g.acceptance_rate) for d, g in stats.by_day.items()
            if g.acceptance_rate is not None]
    if not days:
        return None
    figure = _figure()
    ax = figure.add_subplot()
    ax.plot(_day_numbers(d for d, _ in days), [100 * (rate or 0.0) for _, rate in days],
            marker="o")
    _date_axis(ax, [d for d, _ in days])
    ax.set_ylabel("accepted or partial, % of decided")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    return figure


def _shown_vs_hidden(stats: Stats) -> Figure | None:
    logged_days = [date.fromisoformat(d) for d in stats.by_day]
    days = _day_numbers(logged_days)
    groups = list(stats.by_day.values())
    figure = _figure()
    ax = figure.add_subplot()
    bottom = [0] * len(groups)
    for label, values in (
        ("shown", [g.shown for g in groups]),
        ("hidden by gate 2", [g.hidden for g in groups]),
        ("not generated (gate 1)", [g.skipped for g in groups]),
    ):
        ax.bar(days, values, bottom=bottom, label=label, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _date_axis(ax, logged_days)
    ax.set_ylabel("requests")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: bars fill the plot
    return figure


def _date_axis(ax: Axes, days: list[date]) -> None:
    """A time axis over the logged days only, padded by more than half a day each side (a
    day's bar is 0.8 wide): left to itself, matplotlib spans years around a single day.
    One day is labelled with its date; longer spans get AutoDateLocator's ticks, a day or
    more apart, and concise labels (the year or month said once, not on every tick)."""
    first, last = min(_day_numbers(days)), max(_day_numbers(days))
    pad = max(0.6, 0.03 * (last - first))
    ax.set_xlim(first - pad, last + pad)
    if first == last:
        ax.set_xticks([first])
        ax.xaxis.set_major_formatter(dates.DateFormatter("%a %d %b %Y"))
        return
    # Two ticks suffice: two days (over 2.2 days of axis) get one a day, never 06:00, 12:00.
    locator = dates.AutoDateLocator(minticks=2, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))


def _day_numbers(days: Iterable[date]) -> list[float]:
    # Matplotlib's own day numbers: its typed API takes floats, and the axis shows dates.
    return [float(dates.date2num(day)) for day in days]


def _latency_histogram(stats: Stats) -> Figure | None:
    latencies = stats.overall.latencies_ms
    if not latencies:
        return None
    figure = _figure()
    ax = figure.add_subplot()
    ax.hist(latencies, bins=min(40, max(5, len(latencies) // 5)), color="#4c72b0")
    for quantile, style in ((0.5, "--"), (0.95, ":")):
        value = stats.overall.latency_ms(quantile)
        if value is not None:
            ax.axvline(value, color="black", linestyle=style,
                       label=f"p{round(quantile * 100)} {value:,.0f} ms")
    ax.set_xlabel("request to answer, ms")
    ax.set_ylabel("suggestions")
    ax.legend()
    return figure


def _retention(stats: Stats) -> Figure | None:
    points = [(after, stats.overall.retention(after)) for after in RETENTION_CHECKPOINTS]
    if not any(r.measured for _, r in points):
        return None
    figure = _figure()
    ax = figure.add_subplot()
    labels = [checkpoint_label(after) for after, _ in points]
    shares = [100 * (r.unchanged_share or 0.0) for _, r in points]
    bars = ax.bar(labels, shares, color="#55a868")
    ax.bar_label(bars, labels=[
        "no data" if r.mean_distance is None
        else f"n={r.measured}, mean distance {r.mean_distance:.1f}" for _, r in points])
    ax.set_ylabel("accepted text unchanged, %")
    ax.set_ylim(0, 110)
    return figure


def _html_table(table: Table) -> str:
    note = len(table.headers) - 1 if table.note_column else None

    def cell(tag: str, i: int, text: str) -> str:
        kind = ' class="note"' if i == note else ""
        return f"<{tag}{kind}>{html.escape(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(table.headers))
    bodies = "".join(
        "<tbody>" + "".join(
            "<tr>" + "".join(cell("td", i, text) for i, text in enumerate(row)) + "</tr>"
            for row in section) + "</tbody>"
        for section in table.sections)
    about = f"<p>{html.escape(table.about)}</p>" if table.about else ""
    return (f"<h2>{html.escape(table.title)}</h2>{about}"
            f"<table><thead><tr>{head}</tr></thead>{bodies}</table>")
