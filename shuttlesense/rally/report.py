"""The match view of a report: its rallies and a summary (strokes per player, rally lengths).

Why apart from the pipeline: the report's segment list is what the seed's users parse; a coach
reads a match rally by rally. Both pieces are built from the segment entries alone, so a report
written by an older version can be summarised the same way.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


def rally_entries(segments: list[dict[str, Any]], servers: dict[int, str | None]) -> list[dict[str, Any]]:
    """One entry per rally: start (first hit), end (last segment's end), server, hits, strokes, players."""
    rallies: dict[int, list[dict[str, Any]]] = {}
    for segment in segments:
        rallies.setdefault(segment.get("rally", 0), []).append(segment)
    out = []
    for number, members in sorted(rallies.items()):
        out.append(
            {
                "index": number,
                "start": members[0]["hit_time"],
                "end": members[-1]["end"],
                "server": servers.get(number),
                "num_hits": len(members),
                "hits": [m["hit_time"] for m in members],
                "strokes": [m.get("stroke") for m in members],
                "strokes_zh": [m.get("stroke_zh") for m in members],
                "players": [m.get("player") for m in members],
                "segments": [m["index"] for m in members],
            }
        )
    return out


def match_summary(rallies: list[dict[str, Any]]) -> dict[str, Any]:
    """Strokes per player (A, B, and unknown when the server was not seen) and rally lengths."""
    per_player: dict[str, Counter] = {}
    for rally in rallies:
        for stroke, player in zip(rally["strokes"], rally["players"], strict=True):
            if stroke is not None:
                per_player.setdefault(player or "unknown", Counter())[stroke] += 1
    hits = [r["num_hits"] for r in rallies]
    seconds = [round(r["end"] - r["start"], 3) for r in rallies]
    return {
        "rallies": len(rallies),
        "strokes_per_player": {p: dict(c.most_common()) for p, c in sorted(per_player.items())},
        "rally_hits": hits,
        "rally_seconds": seconds,
        "mean_rally_hits": round(sum(hits) / len(hits), 2) if hits else 0.0,
        "longest_rally_hits": max(hits, default=0),
        "serves": dict(Counter(r["server"] or "unknown" for r in rallies)),
    }
