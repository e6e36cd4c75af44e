"""The class table: the original ShuttleSense names, and the earlier spellings still understood."""

from __future__ import annotations

import pytest

from shuttlesense import labels

ORIGINAL_TABLE = {  # design card, "The 18 classes": what adapters trained with the original scripts answer
    0: ("Short Serve", "短发球"), 1: ("Cross Court Flight", "斜线飞行"), 2: ("Lift", "挑球"),
    3: ("Tap Smash", "点杀"), 4: ("Block", "挡球"), 5: ("Drop Shot", "吊球"), 6: ("Push Shot", "推球"),
    7: ("Transitional Slice", "过渡切球"), 8: ("Cut", "切球"), 9: ("Rush Shot", "扑球"),
    10: ("Defensive Clear", "防守高远球"), 11: ("Defensive Drive", "防守平抽"), 12: ("Clear", "高远球"),
    13: ("Long Serve", "长发球"), 14: ("Smash", "杀球"), 15: ("Flat Shot", "平射球"),
    16: ("Rear Court Flat Drive", "后场平抽"), 17: ("Short Flat Shot", "短平射"),
}  # fmt: skip


def test_the_class_table_is_the_original_one():
    assert {c.id: (c.en, c.zh) for c in labels.CLASSES} == ORIGINAL_TABLE
    assert labels.FOLDER_NAMES[13] == "13_Long Serve"


def test_both_chinese_spellings_parse_to_the_same_class():
    changed = [
        i
        for i, (new, old) in enumerate(zip(labels.CLASS_NAMES_ZH, labels.LEGACY_CLASS_NAMES_ZH, strict=True))
        if new != old
    ]
    assert changed == [0, 1, 4, 8, 11, 13, 15, 17]
    for class_id in range(labels.NUM_CLASSES):
        assert labels.by_name(labels.LEGACY_CLASS_NAMES_ZH[class_id]).id == class_id
        assert labels.by_name(labels.CLASS_NAMES_ZH[class_id]).id == class_id
        assert labels.by_name(f" {labels.CLASS_NAMES_EN[class_id].upper()} ").id == class_id
    with pytest.raises(KeyError, match="not one of the 18"):
        labels.by_name("网前小球")


def test_name_tables_are_checked_class_by_class():
    assert labels.check_name_table(labels.LEGACY_CLASS_NAMES_ZH, "x") == labels.LEGACY_CLASS_NAMES_ZH
    assert labels.check_name_table(tuple(labels.CLASS_NAMES_EN), "x") == labels.CLASS_NAMES_EN
    with pytest.raises(ValueError, match="needs 18 names"):
        labels.check_name_table(labels.CLASS_NAMES_ZH[:17], "cfg.json")
    with pytest.raises(ValueError, match="cfg.json: '挑球' is not a name of class 01"):
        labels.check_name_table([labels.CLASS_NAMES_ZH[0], "挑球", *labels.CLASS_NAMES_ZH[2:]], "cfg.json")
