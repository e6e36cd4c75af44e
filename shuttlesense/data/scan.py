"""Find the VideoBadminton clips under a source folder and read the metadata in their names.

Every file found ends up either as a `ClipRecord` or as a `SkippedFile` with a reason, so a
preparation run can always account for found = kept + skipped.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from shuttlesense import labels
from shuttlesense.paths import VIDEO_EXTENSIONS

# 2022-08-30_18-00-09_dataset_set1_022_002091_002108_A_14.mp4
CLIP_NAME_RE = re.compile(
    r"^(?P<session>\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})_dataset_set(?P<set>\d+)"
    r"_(?P<shot>\d+)_(?P<start_frame>\d+)_(?P<end_frame>\d+)_(?P<side>A|B|AA|BB)_(?P<class_id>\d{1,2})$"
)


@dataclass(frozen=True)
class ClipName:
    """The metadata a VideoBadminton clip carries in its file name."""

    session: str
    set: int
    shot: int
    start_frame: int
    end_frame: int
    side: str
    class_id: int


@dataclass(frozen=True)
class ClipRecord:
    """A clip that passed the name and folder checks (it is probed later)."""

    path: Path
    relative_path: str
    class_id: int
    meta: ClipName

    @property
    def id(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class SkippedFile:
    """A file (or split-file line) left out, and why."""

    file: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScanResult:
    root: Path
    clips: list[ClipRecord]
    skipped: list[SkippedFile]

    @property
    def num_found(self) -> int:
        return len(self.clips) + len(self.skipped)


def parse_clip_name(file_name: str) -> ClipName | None:
    """Parse a clip file name (with or without extension); None if it is not in the dataset's pattern."""
    match = CLIP_NAME_RE.match(Path(file_name).stem)
    if match is None:
        return None
    g = match.groupdict()
    return ClipName(
        session=g["session"],
        set=int(g["set"]),
        shot=int(g["shot"]),
        start_frame=int(g["start_frame"]),
        end_frame=int(g["end_frame"]),
        side=g["side"],
        class_id=int(g["class_id"]),
    )


def _class_folders(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_dir() and labels.by_folder(p.name) is not None]


def find_dataset_root(source: str | Path) -> Path:
    """The folder holding the class folders: `source` itself or a nested `VideoBadminton_Dataset/...`.

    Users unzip the release in different ways, so we search a few levels down for the first
    folder that contains at least one known class folder.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"Source directory does not exist: {source}")
    if not source.is_dir():
        raise NotADirectoryError(f"Source must be a directory, got a file: {source}")
    frontier = [source]
    for _ in range(4):
        for directory in frontier:
            if _class_folders(directory):
                return directory
        frontier = sorted(
            p for d in frontier for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
    expected = ", ".join(repr(n) for n in labels.FOLDER_NAMES[:3])
    raise ValueError(
        f"No VideoBadminton class folders found in {source} (searched 4 levels down). Expected folders "
        f"such as {expected} ... inside VideoBadminton_Dataset/VideoBadminton_Dataset/."
    )


def scan_clips(source: str | Path) -> ScanResult:
    """List every file under the dataset root, keeping well-named videos inside class folders."""
    root = find_dataset_root(source)
    clips: list[ClipRecord] = []
    skipped: list[SkippedFile] = []
    seen_ids: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        folder = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else None
        stroke = labels.by_folder(folder) if folder else None
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            skipped.append(SkippedFile(rel, "not a video file"))
        elif folder is None:
            skipped.append(SkippedFile(rel, "video outside any class folder"))
        elif stroke is None:
            skipped.append(SkippedFile(rel, f"folder {folder!r} is not one of the 18 VideoBadminton classes"))
        elif (meta := parse_clip_name(path.name)) is None:
            skipped.append(SkippedFile(rel, "file name does not match the VideoBadminton clip pattern"))
        elif meta.class_id != stroke.id:
            skipped.append(
                SkippedFile(rel, f"class id {meta.class_id} in the name disagrees with folder {folder!r}")
            )
        elif path.stem in seen_ids:
            skipped.append(SkippedFile(rel, f"duplicate clip name (already kept {seen_ids[path.stem]})"))
        else:
            seen_ids[path.stem] = rel
            clips.append(ClipRecord(path, rel, stroke.id, meta))
    return ScanResult(root, clips, skipped)
