"""Metrics of token tagging: entity-level precision/recall/F1 (seqeval, strict mode) for span tags, token accuracy
for plain tags (POS).

Span schemes: gold tags are read leniently and rewritten in the evaluated scheme (so a gold ``I-X`` starting a span,
as IndoNLU TermA has a few, counts as the span it means); predictions are scored as they are, in seqeval's strict
mode (an entity counts only if its exact type and boundaries are a well-formed span of the scheme: IOB2, or BIOES
for BIOES tags; IOB1 and IO predictions are first rewritten in IOB2, which is what their tags mean). Metrics: micro
``precision``/``recall``/``f1`` (primary ``f1``), per type ``precision/TYPE``, ``recall/TYPE``, ``f1/TYPE`` (bare
B/I/O tags: the type ``_``, as seqeval names it), and token ``accuracy`` as a secondary figure.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from taskdistil.data.tag_schemes import SCHEMES, convert, split_tag
from taskdistil.evaluation import Evaluation


def tagging_metrics(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], scheme: str) -> Evaluation:
    """Metrics of predicted tags against gold tags, both in ``scheme`` (see the module docstring)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; one of {', '.join(SCHEMES)}")
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predicted sentences for {len(gold)} gold sentences")
    for i, (p, g) in enumerate(zip(pred, gold)):
        if len(p) != len(g):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(g)} words")
    accuracy = token_accuracy(pred, gold)
    if scheme == "plain":
        return Evaluation({"accuracy": accuracy}, "accuracy")
    metrics = entity_scores(pred, gold, scheme)
    metrics["accuracy"] = accuracy
    return Evaluation(metrics, "f1")


def token_accuracy(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    total = sum(len(g) for g in gold)
    correct = sum(p == g for ps, gs in zip(pred, gold) for p, g in zip(ps, gs))
    return correct / total if total else 0.0


def sentence_counts(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], scheme: str) -> np.ndarray:
    """(N, K) per-sentence counts whose sums give the primary metric (``taskdistil.tasks.statistics``): plain tags:
    (correct words, words); span schemes: (true positive spans, predicted spans, gold spans) in seqeval's strict
    mode, the spans ``entity_scores`` counts."""
    if scheme == "plain":
        return np.asarray([[sum(p == g for p, g in zip(ps, gs)), len(gs)] for ps, gs in zip(pred, gold)],
                          dtype=np.float32).reshape(len(gold), 2)
    from seqeval.scheme import Entities

    gold, pred, seqeval_scheme = _strict(pred, gold, scheme)
    true_spans = Entities(gold, seqeval_scheme).entities
    pred_spans = Entities(pred, seqeval_scheme).entities
    out = np.zeros((len(gold), 3), dtype=np.float32)
    for i, (t, p) in enumerate(zip(true_spans, pred_spans)):
        t, p = {e.to_tuple() for e in t}, {e.to_tuple() for e in p}
        out[i] = (len(t & p), len(p), len(t))
    return out


def _strict(pred, gold, scheme: str):
    """Gold and predictions in the strict scheme seqeval scores (IOB2, or BIOES), and that seqeval scheme."""
    from seqeval.scheme import IOB2, IOBES

    strict = "bioes" if scheme == "bioes" else "iob2"
    gold = [convert(g, scheme, strict) for g in gold]
    pred = [list(p) if scheme == strict else convert(p, scheme, strict) for p in pred]
    for i, sentence in enumerate(pred):
        for tag in sentence:
            if split_tag(tag) is None:
                raise ValueError(f"sentence {i}: predicted tag {tag!r} is not a {scheme} tag")
    return gold, pred, IOBES if strict == "bioes" else IOB2


def entity_scores(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], scheme: str) -> dict[str, float]:
    """seqeval strict-mode micro and per-type precision/recall/F1."""
    from seqeval.metrics.v1 import precision_recall_fscore_support, unique_labels

    gold, pred, seqeval_scheme = _strict(pred, gold, scheme)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision of a type never predicted: 0, as zero_division says
        p, r, f, _ = precision_recall_fscore_support(gold, pred, average="micro", scheme=seqeval_scheme,
                                                     zero_division=0)
        out = {"precision": float(p), "recall": float(r), "f1": float(f)}
        types = unique_labels(gold, pred, seqeval_scheme)
        if types:
            ps, rs, fs, _ = precision_recall_fscore_support(gold, pred, average=None, scheme=seqeval_scheme,
                                                            zero_division=0)
            for kind, pk, rk, fk in zip(types, ps, rs, fs):
                out.update({f"precision/{kind}": float(pk), f"recall/{kind}": float(rk), f"f1/{kind}": float(fk)})
    return out
