"""Server-side SVG bar charts: no JavaScript, no inline styles, numbers printed next to each bar.

Coordinates are computed here as strings so the template never localises a decimal point into a
comma (which would break the SVG in German).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    total: int
    percent: int
    y: str
    text_y: str
    width: str
    value_x: str
    value_text: str


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: str
    height: str
    label_width: str
    bar_height: str
    max_bar: str
    axis_x: str


def fill_rate_chart(rows: list[tuple[str, int, int]], *, width: int = 640, label_width: int = 240,
                    row_height: int = 30, value_room: int = 110, max_label: int = 32,
                    notes: list[str] | None = None) -> BarChart:
    """Horizontal bars of `filled / total` per row, e.g. places taken of places available.

    `notes`, one per row, are printed after the numbers (e.g. the waiting list); give the longer
    text room with `value_room`, the pixels kept right of the longest bar.
    """
    max_bar = width - label_width - value_room
    bars = []
    for index, (label, value, total) in enumerate(rows):
        percent = round(100 * value / total) if total else 0
        bar_width = round(max_bar * min(percent, 100) / 100)
        y = index * row_height + 6
        short = label if len(label) <= max_label else label[:max_label - 1] + "…"
        value_text = f"{percent} % ({value}/{total})"
        if notes and notes[index]:
            value_text += f" · {notes[index]}"
        bars.append(Bar(label=short, value=value, total=total, percent=percent, y=str(y),
                        text_y=str(y + row_height // 2 + 2), width=str(bar_width),
                        value_x=str(label_width + bar_width + 6), value_text=value_text))
    return BarChart(bars=bars, width=str(width), height=str(max(len(rows), 1) * row_height + 12),
                    label_width=str(label_width - 8), bar_height=str(row_height - 10), max_bar=str(max_bar),
                    axis_x=str(label_width))
