"""Export a prepared dataset to the seed's ShareGPT-style JSON (+ videos/) for other tools.

LLaMA-Factory, ms-swift and the seed's scripts read `{"id", "video", "conversations"}` records;
this writes `train.json`, `val.json`, `test.json` and the clips they point to.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from shuttlesense import labels
from shuttlesense.data.loading import load_split

EXPORT_FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}


def conversation(class_id: int, language: str = "zh") -> list[dict[str, str]]:
    """The two-turn training conversation for a clip of class `class_id`."""
    return [
        {"from": "user", "value": "<video>" + labels.prompt(language)},
        {"from": "assistant", "value": labels.by_id(class_id).name(language)},
    ]


def export_sharegpt(dataset: str | Path, output: str | Path, language: str = "zh") -> list[Path]:
    """Write one JSON file per split present in `dataset`, and every clip under `output/videos/`."""
    from datasets import get_dataset_split_names

    output = Path(output)
    (output / "videos").mkdir(parents=True, exist_ok=True)
    written = []
    for split in get_dataset_split_names(str(dataset)):
        data = load_split(str(dataset), split)
        records = []
        for row in tqdm(data, desc=f"Exporting {split}", unit="clip"):
            name = Path(row["video"]["path"] or f"{row['id']}.mp4").name
            (output / "videos" / name).write_bytes(row["video"]["bytes"])
            records.append(
                {
                    "id": row["id"],
                    "video": f"videos/{name}",
                    "conversations": conversation(row["label"], language),
                }
            )
        target = output / EXPORT_FILES.get(split, f"{split}.json")
        target.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(target)
    return written
