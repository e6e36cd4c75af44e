"""Aligned plain-text tables for the terminal, CJK-aware (a Chinese character takes two columns)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


def display_width(text: str) -> int:
    """Terminal columns of `text` (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Header, a dashed rule, then the rows; columns padded to their widest cell."""
    table = [list(header), *[list(row) for row in rows]]
    widths = [max(display_width(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell + " " * (w - display_width(cell)) for cell, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
