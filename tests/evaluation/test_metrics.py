"""Metrics checked against numbers worked out by hand, including classes absent from a small split."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from shuttlesense.evaluation.metrics import classification_metrics, row_normalise, top_confusions
from shuttlesense.labels import CLASS_NAMES_EN, NUM_CLASSES


def ranked_probs(rankings: list[list[int]]) -> np.ndarray:
    """One probability row per ranking: listed classes get falling, distinct probabilities, the rest share."""
    rows = []
    for ranking in rankings:
        head = [0.40, 0.20, 0.12, 0.08, 0.06, 0.04][: len(ranking)]
        row = np.full(NUM_CLASSES, (1 - sum(head)) / (NUM_CLASSES - len(ranking)))
        row[ranking] = head
        rows.append(row)
    return np.array(rows)


# 6 clips over 3 classes. Predicted = first of each ranking.
#   clip  true  pred   note
#   0     0     0
#   1     0     0
#   2     0     1      true class ranked 6th -> the only top-5 miss
#   3     1     1
#   4     1     2
#   5     2     2
Y_TRUE = [0, 0, 0, 1, 1, 2]
RANKINGS = [[0, 1], [0, 2], [1, 3, 4, 5, 6, 0], [1, 0], [2, 1], [2, 0]]


def test_metrics_match_a_hand_computed_example():
    m = classification_metrics(Y_TRUE, ranked_probs(RANKINGS))
    assert m["num_examples"] == 6 and m["num_classes_present"] == 3
    assert m["top1"] == pytest.approx(4 / 6)
    assert m["top5"] == pytest.approx(5 / 6)
    # recall: class 0 2/3, class 1 1/2, class 2 1/1
    assert m["mean_class_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # precision: class 0 2/2, class 1 1/2, class 2 1/2 -> F1 0.8, 0.5, 2/3
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    short_serve, flight, lift = (m["per_class"][CLASS_NAMES_EN[i]] for i in range(3))
    assert short_serve == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert flight == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert lift == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert m["per_class"]["Smash"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert len(m["per_class"]) == NUM_CLASSES and m["class_names"] == CLASS_NAMES_EN
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (NUM_CLASSES, NUM_CLASSES) and cm.sum() == 6
    assert cm[0, 0] == 2 and cm[0, 1] == 1 and cm[1, 1] == 1 and cm[1, 2] == 1 and cm[2, 2] == 1


def test_a_predicted_class_absent_from_the_truth_counts_in_macro_f1_not_in_mean_class_accuracy():
    m = classification_metrics([0, 0], ranked_probs([[0], [5]]))
    assert m["mean_class_accuracy"] == pytest.approx(0.5)  # only class 0 is present
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)  # class 0 F1 2/3, class 5 F1 0


def test_mean_class_accuracy_is_balanced_accuracy_when_all_classes_occur():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.arange(NUM_CLASSES), rng.integers(0, NUM_CLASSES, 100)])
    probs = rng.dirichlet(np.ones(NUM_CLASSES), size=len(y))
    m = classification_metrics(y.tolist(), probs)
    assert m["mean_class_accuracy"] == pytest.approx(balanced_accuracy_score(y, probs.argmax(1)))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0], np.ones((1, 3)))
    with pytest.raises(ValueError, match="labels but"):
        classification_metrics([0, 1], np.ones((1, NUM_CLASSES)))
    with pytest.raises(ValueError, match="No predictions"):
        classification_metrics([], np.zeros((0, NUM_CLASSES)))
    with pytest.raises(ValueError, match="class ids"):
        classification_metrics([18], np.ones((1, NUM_CLASSES)))


def test_row_normalise_and_top_confusions():
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
    cm[0, 0], cm[0, 1], cm[3, 14] = 3, 1, 2
    shares = row_normalise(cm)
    assert shares[0].tolist()[:2] == [0.75, 0.25] and shares[5].sum() == 0  # empty row stays 0
    assert top_confusions(cm) == [
        ("Tap Smash", "Smash", 2, 1.0),
        ("Short Serve", "Cross Court Flight", 1, 0.25),
    ]
