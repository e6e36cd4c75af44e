"""The 18 VideoBadminton stroke classes and the prompts: the one source of truth for names.

Order, English names and folder names follow the dataset's release (class id = folder prefix);
the Chinese names are the original ShuttleSense table, which adapters trained with the original
scripts answer with. Every other module (dataset preparation, training targets, scoring, reports)
reads them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMPT_ZH = "请识别视频中的羽毛球动作是什么？"
PROMPT_EN = "What badminton stroke is being played in this video?"
PROMPTS = {"zh": PROMPT_ZH, "en": PROMPT_EN}
LANGUAGES = tuple(PROMPTS)


@dataclass(frozen=True)
class StrokeClass:
    """One stroke class: its id (0-17), English and Chinese names, and dataset folder name."""

    id: int
    en: str
    zh: str

    @property
    def folder(self) -> str:
        return f"{self.id:02d}_{self.en}"

    def name(self, language: str = "zh") -> str:
        """The class name in `language` ("zh" or "en"), as used for training targets."""
        if language not in PROMPTS:
            raise ValueError(f"Unknown language {language!r}; choose one of {LANGUAGES}.")
        return self.zh if language == "zh" else self.en


CLASSES: tuple[StrokeClass, ...] = tuple(
    StrokeClass(i, en, zh)
    for i, (en, zh) in enumerate(
        [
            ("Short Serve", "短发球"),
            ("Cross Court Flight", "斜线飞行"),
            ("Lift", "挑球"),
            ("Tap Smash", "点杀"),
            ("Block", "挡球"),
            ("Drop Shot", "吊球"),
            ("Push Shot", "推球"),
            ("Transitional Slice", "过渡切球"),
            ("Cut", "切球"),
            ("Rush Shot", "扑球"),
            ("Defensive Clear", "防守高远球"),
            ("Defensive Drive", "防守平抽"),
            ("Clear", "高远球"),
            ("Long Serve", "长发球"),
            ("Smash", "杀球"),
            ("Flat Shot", "平射球"),
            ("Rear Court Flat Drive", "后场平抽"),
            ("Short Flat Shot", "短平射"),
        ]
    )
)
NUM_CLASSES = len(CLASSES)
CLASS_NAMES_EN: list[str] = [c.en for c in CLASSES]
CLASS_NAMES_ZH: list[str] = [c.zh for c in CLASSES]
FOLDER_NAMES: list[str] = [c.folder for c in CLASSES]
LEGACY_CLASS_NAMES_ZH: list[str] = [
    "发短球", "斜线平飞球", "挑球", "点杀", "挡网", "吊球", "推球", "过渡切球", "劈吊",
    "扑球", "防守高远球", "防守抽球", "高远球", "发高远球", "杀球", "平抽球", "后场平抽", "网前平推",
]  # fmt: skip
"""The Chinese names ShuttleSense trained with before it took the original table (eight differ:
classes 00, 01, 04, 08, 11, 13, 15, 17). Adapters trained then answer with these, so scoring
uses them for such adapters and text parsing accepts them."""

_BY_FOLDER = {c.folder: c for c in CLASSES}
_BY_NAME = {
    **{zh: c for zh, c in zip(LEGACY_CLASS_NAMES_ZH, CLASSES, strict=True)},
    **{c.en.lower(): c for c in CLASSES},
    **{c.zh: c for c in CLASSES},
}


def class_names(language: str = "zh") -> list[str]:
    """All 18 class names in `language`, in class-id order."""
    return [c.name(language) for c in CLASSES]


def check_name_table(names: object, source: str) -> list[str]:
    """`names` as 18 class-name strings that each name their own class; ValueError naming `source`."""
    if not isinstance(names, list | tuple) or len(names) != NUM_CLASSES:
        raise ValueError(f"{source}: a class-name table needs {NUM_CLASSES} names in class-id order.")
    for class_id, name in enumerate(names):
        known = _BY_NAME.get(str(name).strip()) or _BY_NAME.get(str(name).strip().lower())
        if known is None or known.id != class_id:
            raise ValueError(
                f"{source}: {name!r} is not a name of class {class_id:02d} ({CLASSES[class_id].en})."
            )
    return [str(name) for name in names]


def prompt(language: str = "zh") -> str:
    """The user prompt that asks for the stroke, in `language`."""
    try:
        return PROMPTS[language]
    except KeyError:
        raise ValueError(f"Unknown language {language!r}; choose one of {LANGUAGES}.") from None


def by_folder(folder_name: str) -> StrokeClass | None:
    """The class whose dataset folder is `folder_name` (e.g. ``"14_Smash"``), or None."""
    return _BY_FOLDER.get(folder_name.strip())


def by_name(name: str) -> StrokeClass:
    """The class named `name` in English (any case) or Chinese (either table); KeyError otherwise."""
    found = _BY_NAME.get(name.strip()) or _BY_NAME.get(name.strip().lower())
    if found is None:
        raise KeyError(f"{name!r} is not one of the 18 VideoBadminton classes: {CLASS_NAMES_EN}")
    return found


def by_id(class_id: int) -> StrokeClass:
    """The class with id `class_id` (0-17)."""
    if not 0 <= int(class_id) < NUM_CLASSES:
        raise KeyError(f"Class id {class_id} is outside 0-{NUM_CLASSES - 1}.")
    return CLASSES[int(class_id)]
