"""The README.md dataset card of a prepared VideoBadminton dataset (what the Hub shows).

The YAML header carries `configs` (so `load_dataset` finds the parquet shards without custom
code) and `dataset_info` (features, split sizes); the body says where the data came from, how
the split was made and what it contains per class.
"""

from __future__ import annotations

from typing import Any

import yaml
from datasets import Features

from shuttlesense import labels

SPLIT_NOTES = {
    "official": (
        "the authors' official split files. That split is random by clip, so neighbouring shots of "
        "one recording session appear in train and test: numbers measured on it are optimistic."
    ),
    "stratified": (
        "a seeded stratified split by class (per-class proportions kept). Like the official split it "
        "is random by clip, so shots of one session appear in several splits."
    ),
    "session": (
        "whole recording sessions kept in one split, balanced per class as far as the sessions allow. "
        "No session appears in two splits, which removes the neighbouring-shot leakage of the official split."
    ),
}

CITATION = """@article{li2024videobadminton,
  title   = {VideoBadminton: A Video Dataset for Badminton Action Recognition},
  author  = {Li, Qi and Chiu, Tzu-Chen and Huang, Hsiang-Wei and Sun, Min-Te and Ku, Wei-Shinn},
  journal = {arXiv preprint arXiv:2403.12385},
  year    = {2024}
}"""


def _header(features: Features, split_sizes: dict[str, tuple[int, int]], pretty_name: str) -> dict[str, Any]:
    return {
        "pretty_name": pretty_name,
        "license": "other",
        "task_categories": ["video-classification"],
        "language": ["en", "zh"],
        "tags": ["badminton", "sports", "action-recognition", "shuttlesense"],
        "size_categories": [_size_category(sum(n for n, _ in split_sizes.values()))],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in split_sizes],
            }
        ],
        "dataset_info": {
            "features": features._to_yaml_list(),
            "splits": [{"name": s, "num_bytes": b, "num_examples": n} for s, (n, b) in split_sizes.items()],
        },
    }


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]:
        if n < limit:
            return name
    return "100K<n<1M"


def _class_table(per_class: dict[str, dict[int, int]]) -> str:
    splits = list(per_class)
    rows = [
        "| id | class | 中文 | " + " | ".join(splits) + " | total |",
        "|---|---|---|" + "---|" * (len(splits) + 1),
    ]
    for c in labels.CLASSES:
        counts = [per_class[s].get(c.id, 0) for s in splits]
        rows.append(f"| {c.id} | {c.en} | {c.zh} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    totals = [sum(per_class[s].values()) for s in splits]
    rows.append("| | **total** | | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")
    return "\n".join(rows)


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    return "\n**Warnings** (numbers on these splits do not cover every class):\n\n" + "".join(
        f"- {w}\n" for w in warnings
    )


def render_dataset_card(
    features: Features,
    split_sizes: dict[str, tuple[int, int]],
    per_class: dict[str, dict[int, int]],
    stats: dict[str, Any],
    pretty_name: str = "VideoBadminton (ShuttleSense)",
) -> str:
    """The full README.md text: YAML header + human-readable card."""
    split = stats["split"]
    params = ", ".join(f"{k}={v}" for k, v in split.items() if k != "method" and v is not None)
    header = yaml.safe_dump(_header(features, split_sizes, pretty_name), allow_unicode=True, sort_keys=False)
    skipped = stats["num_skipped"]
    return f"""---
{header}---

# {pretty_name}

Badminton stroke clips in 18 classes, prepared from the VideoBadminton release with
ShuttleSense (`shuttlesense prepare`). Each row holds the clip itself
(`video`, bytes embedded, so this copy is self-contained), its class (`label`, English names;
`label_zh`, Chinese), the metadata from the file name (`session`, `set`, `shot`,
`start_frame`, `end_frame`, `side`) and a probe of the clip (`num_frames`, `fps`, `width`,
`height`, `duration`).

```python
from datasets import load_dataset, Video
ds = load_dataset("<this repo or folder>")
ds = ds.cast_column("video", Video(decode=False))  # raw bytes; decode with decord or PyAV
```

## Split

Method: **{split["method"]}** ({params}). This split uses {SPLIT_NOTES[split["method"]]}
Say which split a number was measured on when you report it.

## Clips per class and split

{_class_table(per_class)}

Found {stats["num_found"]} files, kept {stats["num_kept"]}, skipped {skipped}
(each skipped file and its reason is listed in `dataset_stats.json`).
{_warnings(stats.get("warnings", []))}
## Source, licence and citation

Source: the VideoBadminton dataset (7,822 clips filmed at 1280x960, 60 fps, at a university team's
practice). The clips are the authors' work and come under their terms; check them before you
redistribute or use the data commercially. This card's `license: other` means exactly that.

```bibtex
{CITATION}
```
"""
