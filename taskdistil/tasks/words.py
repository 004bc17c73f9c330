"""Sub-words and words, in one place: how a sentence's words become model inputs and how word outputs come back.

A sentence (a list of words) is encoded with a ``tokenizers`` backend word by word (``is_pretokenized``): the
first sub-token of each word carries the word (its label in training, its logits in prediction); the other
sub-tokens are read but never scored. A word the tokenizer turns into no sub-token at all (a lone control or
zero-width character) reads as the unknown token, so no word is ever dropped.

A sentence longer than ``max_length`` sub-tokens (specials included) is split into overlapping windows of whole
words (``taskdistil.data.windows.word_windows``): each word is predicted by exactly one window (the centre-most),
so rejoining the windows loses no word and truncates no gold tag. Only a single word longer than a whole window
loses sub-tokens past the window (never its first one); ``WordEncoding.cut_words`` counts those.
Without ``max_length`` (word-level students: no position limit) every sentence is one window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Piece:
    """One model input: a window of a sentence's words. ``positions[k]`` is the token position of the first
    sub-token of word ``start + k``; words ``keep_start..keep_end`` are the ones this window predicts."""

    sentence: int
    ids: list[int]
    positions: list[int]
    start: int
    end: int
    keep_start: int
    keep_end: int


@dataclass
class WordEncoding:
    pieces: list[Piece]
    sentences: int
    words: list[int]  # words per sentence
    windowed: int = 0  # sentences split into more than one window
    cut_words: int = 0  # single words longer than a window, their sub-tokens past it cut
    by_sentence: list[list[int]] = field(default_factory=list)  # piece indices of each sentence

    def eventful(self) -> bool:
        """Whether encoding split or cut anything (the log says so)."""
        return bool(self.windowed or self.cut_words)

    def summary(self) -> str:
        return (f"{self.sentences} sentences, {sum(self.words)} words, {len(self.pieces)} windows "
                f"({self.windowed} sentences split into overlapping windows, {self.cut_words} over-long words cut)")


def _specials(backend) -> tuple[list[int], list[int], int]:
    """(ids the backend adds before a sentence, after it, the unknown token's id)."""
    plain = backend.encode(["a"], is_pretokenized=True, add_special_tokens=False).ids
    full = backend.encode(["a"], is_pretokenized=True).ids
    at = next(i for i in range(len(full)) if full[i:i + len(plain)] == plain)
    unk = None
    model = backend.model
    if getattr(model, "unk_token", None):
        unk = backend.token_to_id(model.unk_token)
    return full[:at], full[at + len(plain):], 0 if unk is None else unk


def word_pieces(backend, words: Sequence[str], unk_id: int) -> list[list[int]]:
    """The sub-token ids of each word (a word that yields none: the unknown token)."""
    encoding = backend.encode(list(words), is_pretokenized=True, add_special_tokens=False)
    pieces: list[list[int]] = [[] for _ in words]
    for token, word in zip(encoding.ids, encoding.word_ids):
        if word is not None:
            pieces[word].append(token)
    return [p or [unk_id] for p in pieces]


def encode_words(backend, sentences: Sequence[Sequence[str]], max_length: int | None = None,
                 overlap_words: int = 8) -> WordEncoding:
    """Model inputs (``Piece``s) of ``sentences``: one per sentence, or overlapping windows of whole words where a
    sentence exceeds ``max_length`` sub-tokens (specials included)."""
    prefix, suffix, unk = _specials(backend)
    out = WordEncoding([], len(sentences), [len(s) for s in sentences])
    for i, words in enumerate(sentences):
        add_pieces(out, i, word_pieces(backend, words, unk), prefix, suffix, max_length, overlap_words)
    return out


def add_pieces(out: WordEncoding, example: int, subwords: list[list[int]], head: list[int], suffix: list[int],
               max_length: int | None, overlap_words: int) -> None:
    """Append to ``out`` the ``Piece``s of one example whose scored words have ``subwords``: ``head`` + the words'
    sub-tokens + ``suffix``, in one piece, or in overlapping windows of whole words where they exceed the room
    ``max_length`` leaves beside head and suffix (a single word longer than a window is cut, and counted)."""
    from taskdistil.data.windows import word_windows

    counts = [len(p) for p in subwords]
    room = None if max_length is None else max_length - len(head) - len(suffix)
    if room is None or sum(counts) <= room:
        windows = [(0, len(subwords), 0, len(subwords))]
    else:
        windows = [(w.start, w.end, w.keep_start, w.keep_end) for w in word_windows(counts, room, overlap_words)]
        out.windowed += 1
    out.by_sentence.append([])
    for start, end, keep_start, keep_end in windows:
        ids, positions = list(head), []
        for w in range(start, end):
            positions.append(len(ids))
            ids.extend(subwords[w])
        if room is not None and len(ids) - len(head) > room:  # one word longer than a window
            ids = ids[: len(head) + room]
            out.cut_words += 1
        ids.extend(suffix)
        out.by_sentence[-1].append(len(out.pieces))
        out.pieces.append(Piece(example, ids, positions, start, end, keep_start, keep_end))
