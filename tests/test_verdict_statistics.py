"""Per-example counts of every task kind: their sums give the primary metric, so the exam can bootstrap F1."""

import numpy as np
import pytest

from taskdistil.exam.bootstrap import difference_intervals, intervals
from taskdistil.tasks.classification import Classification
from taskdistil.tasks.multi_aspect import AspectLabels, MultiAspect
from taskdistil.tasks.tagging import TagLabels, TokenTagging

rng = np.random.default_rng(0)


def _whole(kind, outputs, gold, labels):
    stats = kind.example_statistics(outputs, gold, labels)
    return float(kind.metric_of_sums(stats.sum(axis=0, dtype=np.float64)[None], labels)[0])


def test_classification_accuracy_from_counts():
    kind = Classification("single_sentence", pairs=False)
    logits, gold = rng.normal(size=(200, 3)), rng.integers(0, 3, 200)
    assert _whole(kind, logits, gold, None) == pytest.approx(kind.evaluate(logits, gold, None).score, abs=1e-12)


def test_multi_aspect_mean_macro_f1_from_counts():
    labels = AspectLabels(("fuel", "price", "service"), (("neg", "neu", "pos"), ("neg", "pos"), ("neg", "neu", "pos")))
    kind = MultiAspect()
    logits = rng.normal(size=(150, len(labels)))
    gold = np.stack([rng.integers(0, 3, 150), rng.integers(0, 2, 150), np.ones(150, dtype=np.int64)], axis=1)
    logits[:, 5:] = [0, 5, 0]  # service always answers neu: a class absent from gold and predictions elsewhere
    expected = kind.evaluate(logits, gold, labels).score
    assert _whole(kind, logits, gold, labels) == pytest.approx(expected, abs=1e-12)
    baseline = kind.majority(_AspectData(labels, gold), "train")
    assert baseline.answer.startswith("fuel=") and "service=neu" in baseline.answer


class _AspectData:
    def __init__(self, labels, gold):
        self.labels, self._gold = labels, gold

    def gold(self, split):
        return self._gold


def _random_tags(labels, sentences):
    out_logits, gold = [], []
    for _ in range(sentences):
        n = int(rng.integers(1, 12))
        gold.append(rng.choice(len(labels.labels), n, p=_tag_weights(labels)))
        out_logits.append(rng.normal(size=(n, len(labels.labels))) + 2.5 * np.eye(len(labels.labels))[gold[-1]])
    return out_logits, gold


def _tag_weights(labels):
    w = np.array([6.0 if t == "O" else 1.0 for t in labels.labels])
    return w / w.sum()


@pytest.mark.parametrize("scheme", ["iob2", "bioes", "plain"])
def test_tagging_metric_from_sentence_counts(scheme):
    tags = {"iob2": ("B-LOC", "B-PER", "I-LOC", "I-PER", "O"),
            "bioes": ("B-LOC", "E-LOC", "I-LOC", "O", "S-LOC"),
            "plain": ("ADJ", "NN", "O", "VB")}[scheme]
    labels = TagLabels(tags, scheme, scheme)
    kind = TokenTagging()
    logits, gold = _random_tags(labels, 300)
    evaluation = kind.evaluate(logits, gold, labels)
    assert 0.1 < evaluation.score < 0.99  # a case where counting matters
    assert _whole(kind, logits, gold, labels) == pytest.approx(evaluation.score, abs=1e-12)


def test_f1_intervals_pair_models_on_the_same_resamples():
    labels = TagLabels(("B-LOC", "I-LOC", "O"), "iob2", "iob2")
    kind = TokenTagging()
    logits, gold = _random_tags(labels, 200)
    stats = {"a": kind.example_statistics(logits, gold, labels)}
    stats["same"] = stats["a"].copy()
    worse = [o.copy() for o in logits]
    for o in worse[:120]:
        o[:, 2] += 10  # all-O on 120 sentences: fewer spans found
    stats["worse"] = kind.example_statistics(worse, gold, labels)
    found = difference_intervals(stats, lambda s: kind.metric_of_sums(s, labels),
                                 {"same": ("same", "a"), "worse": ("worse", "a")}, resamples=500)
    assert found["same"] == {"value": 0.0, "ci95": [0.0, 0.0]}
    assert found["worse"]["value"] < 0 and found["worse"]["ci95"][1] < 0


def test_accuracy_intervals_agree_with_the_mean_bootstrap():
    kind = Classification("single_sentence", pairs=False)
    gold = rng.integers(0, 2, 500)
    a, b = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
    a[np.arange(500), gold] += 1.0
    stats = {"a": kind.example_statistics(a, gold, None), "b": kind.example_statistics(b, gold, None)}
    ours = difference_intervals(stats, lambda s: kind.metric_of_sums(s, None), {"d": ("a", "b")}, resamples=2000)["d"]
    means = intervals({"d": stats["a"][:, 0] - stats["b"][:, 0]}, resamples=2000)["d"]
    assert ours["value"] == pytest.approx(means["value"], abs=1e-12)
    assert ours["ci95"] == pytest.approx(means["ci95"], abs=1e-9)
