"""Sub-words of question + passage examples (``question_tagging``): the pair template of the tokenizer,
``[CLS] question [SEP] passage [SEP]`` for BERT, with the passage's words aligned as ``taskdistil.tasks.words``
aligns a sentence's: the first sub-token of each passage word carries the word; question words are read, never
scored.

A passage whose sub-tokens do not fit ``max_length`` (specials and question included) is split into overlapping
windows of whole passage words (``taskdistil.data.windows``), each window read with the whole question again:
every passage word is predicted by exactly one window, so no gold tag is dropped. A question longer than
``max_length // 2`` sub-tokens is cut to that many (``QuestionEncoding.cut_questions`` counts them: the log says
so), so a window always has room for passage words. Without ``max_length`` (word-level students) an example is one
window. The ``Piece``s and ``WordEncoding`` are those of single sentences: ``words`` counts passage words, and
everything downstream (word logits, annotations, the students' targets) is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taskdistil.tasks.words import WordEncoding, add_pieces, word_pieces


@dataclass
class QuestionEncoding(WordEncoding):
    cut_questions: int = 0  # questions cut to max_length // 2 sub-tokens

    def eventful(self) -> bool:
        return super().eventful() or bool(self.cut_questions)

    def summary(self) -> str:
        return super().summary() + f", {self.cut_questions} over-long questions cut"


def pair_template(backend) -> tuple[list[int], list[int], list[int], int]:
    """(ids before the question, between question and passage, after the passage, the unknown token's id) of the
    backend's pair template."""
    full = backend.encode(["a"], ["b"], is_pretokenized=True)
    seq = full.sequence_ids
    first = [k for k, s in enumerate(seq) if s == 0]
    second = [k for k, s in enumerate(seq) if s == 1]
    ids = full.ids
    unk = getattr(backend.model, "unk_token", None)
    unk_id = backend.token_to_id(unk) if unk else None
    return ids[: first[0]], ids[first[-1] + 1: second[0]], ids[second[-1] + 1:], unk_id or 0


def encode_question_words(backend, examples: Sequence[tuple[Sequence[str], Sequence[str]]],
                          max_length: int | None = None, overlap_words: int = 8) -> QuestionEncoding:
    """Model inputs (``Piece``s over passage words) of ``(question words, passage words)`` examples."""
    prefix, middle, suffix, unk = pair_template(backend)
    out = QuestionEncoding([], len(examples), [len(p) for _, p in examples])
    for i, (question, passage) in enumerate(examples):
        q_ids = [t for piece in word_pieces(backend, question, unk) for t in piece]
        if max_length is not None and len(q_ids) > max_length // 2:
            q_ids = q_ids[: max_length // 2]
            out.cut_questions += 1
        add_pieces(out, i, word_pieces(backend, passage, unk), prefix + q_ids + middle, suffix, max_length,
                   overlap_words)
    return out
