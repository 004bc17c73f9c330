"""Tang et al. (2019) augmentation of the transfer set: masking, POS-guided replacement, n-gram sampling.

Every example draws from a generator of its own, seeded by the run's seed and the example's text, so its
copies do not depend on its position, on the other examples or on batching. The draws of one example are
vectorised: all uniforms of its copies at once, every POS replacement in one ``np.searchsorted``. Sentences given
as words (token tagging) are augmented word by word (``augment_word_lists``): positions and word counts are kept by
masking and replacement, an n-gram is a contiguous span of words, and no gold tag goes with a copy.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from taskdistil.config import AugmentConfig
from taskdistil.errors import DataError
from taskdistil.progress import progress
from taskdistil.transfer.pos import PosVocabulary, TaggedText, make_tagger

MASK = "[MASK]"
Example = str | tuple[str, str]
TaggedExample = TaggedText | tuple[TaggedText, TaggedText]
PAIR_MODES = ("sentence 1", "sentence 2", "both")  # copy i of a pair augments PAIR_MODES[i % 3]


class Prepared(NamedTuple):
    """One tagged sentence as arrays: tokens, whitespace after each, and each token's vocabulary entry."""

    text: str
    words: np.ndarray  # object: the tokens
    spaces: np.ndarray  # object: the whitespace after each token
    glued: np.ndarray  # bool: no whitespace after the token
    entries: np.ndarray  # int64: the token's (tag, word) entry; -1: never replaced


class Augmenter:
    """Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", Sec. 3.1).

    Per word draw X ~ U[0,1]: X < p_mask -> "[MASK]"; p_mask <= X < p_mask + p_pos -> another word of the same
    POS tag drawn by frequency from the vocabulary (a word without tag, or alone in its tag, is kept); else kept.
    Then with probability p_ng keep only a random n-gram, n ~ U{1..min(ngram_max, length)}. n_iter copies per
    example; copies equal to the original or to an earlier copy (after whitespace normalisation) are dropped.
    A pair's copy i augments sentence 1, sentence 2 or both (``PAIR_MODES[i % 3]``). Kept tokens keep their
    whitespace; a changed token is separated from its neighbours by a space.
    """

    def __init__(self, vocab: PosVocabulary | None, config: AugmentConfig) -> None:
        self.config = config
        self.vocab = vocab if vocab is not None and len(vocab) and config.p_pos > 0 else None
        self.p_mask = config.p_mask
        self.p_change = config.p_mask + config.p_pos

    @property
    def replaces(self) -> bool:
        """Whether POS-guided replacement is on (a vocabulary and p_pos > 0)."""
        return self.vocab is not None

    def prepare(self, tagged: TaggedText) -> Prepared:
        words = np.array(tagged.tokens, dtype=object)
        entries = np.full(len(words), -1, dtype=np.int64)
        if self.vocab is not None and len(words):
            entries = self.vocab.entries(tagged.tokens, tagged.tags)
            entries[~self.vocab.replaceable(entries)] = -1
        glued = np.array([not s for s in tagged.spaces], dtype=bool)
        return Prepared(tagged.text, words, np.array(tagged.spaces, dtype=object), glued, entries)

    def augment(self, example: TaggedExample, rng: np.random.Generator) -> list[Example]:
        """Up to n_iter distinct copies of one tagged example (a text or a pair), none equal to it."""
        n_iter = self.config.n_iter
        if isinstance(example, TaggedText):
            return _distinct(self.copies(self.prepare(example), n_iter, rng), _key(example.text))
        first, second = example
        modes = [i % 3 for i in range(n_iter)]
        ones = iter(self.copies(self.prepare(first), sum(m != 1 for m in modes), rng))
        twos = iter(self.copies(self.prepare(second), sum(m != 0 for m in modes), rng))
        pairs = [(next(ones) if m != 1 else first.text, next(twos) if m != 0 else second.text) for m in modes]
        return _distinct(pairs, _key((first.text, second.text)))

    def copies(self, p: Prepared, k: int, rng: np.random.Generator) -> list[str]:
        """k augmented versions of one sentence (duplicates included)."""
        if len(p.words) == 0 or k == 0:
            return [p.text] * k
        words, changed, lo, hi = self._draw(p, k, rng)
        pieces = words + _separators(p, changed)
        return ["".join(pieces[r, lo[r]:hi[r]].tolist()).strip() for r in range(k)]

    def word_copies(self, p: Prepared, k: int, rng: np.random.Generator) -> list[list[str]]:
        """k augmented versions of a sentence given as words (duplicates included): a masked or replaced word
        stays one word in its place; an n-gram copy is a contiguous span of the words."""
        if len(p.words) == 0 or k == 0:
            return [p.words.tolist() for _ in range(k)]
        words, _, lo, hi = self._draw(p, k, rng)
        return [words[r, lo[r]:hi[r]].tolist() for r in range(k)]

    def augment_words(self, tagged: TaggedText, rng: np.random.Generator) -> list[list[str]]:
        """Up to n_iter distinct copies of one sentence given as words, none equal to it."""
        copies = self.word_copies(self.prepare(tagged), self.config.n_iter, rng)
        seen, out = {tuple(tagged.tokens)}, []
        for copy in copies:
            if tuple(copy) not in seen:
                seen.add(tuple(copy))
                out.append(copy)
        return out

    def _draw(self, p: Prepared, k: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(k, n) words of k copies after masking / replacement, (k, n) which changed, each copy's span [lo, hi)."""
        n = len(p.words)
        u = rng.random((k, n))
        words = np.tile(p.words, (k, 1))
        masked = u < self.p_mask
        words[masked] = MASK
        changed = masked
        if self.vocab is not None:
            rows, cols = np.nonzero((u < self.p_change) & ~masked & (p.entries >= 0))
            if len(cols):
                drawn = self.vocab.sample_other(p.entries[cols], rng.random(len(cols)))
                words[rows, cols] = self.vocab.words[drawn]
                changed = masked.copy()
                changed[rows, cols] = True
        lo, hi = self._windows(n, k, rng)
        return words, changed, lo, hi

    def _windows(self, n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Token span [lo, hi) of each copy: with p_ng a random n-gram, n ~ U{1..min(ngram_max, n)}; else all."""
        ngram = rng.random(k) < self.config.p_ng
        length = rng.integers(1, min(self.config.ngram_max, n) + 1, size=k)
        start = rng.integers(0, n - length + 1)
        return np.where(ngram, start, 0), np.where(ngram, start + length, n)


def augment_texts(texts: Sequence[str | tuple[str, str]], config: AugmentConfig, seed: int,
                  desc: str | None = "augmentation") -> Iterator[tuple[int, str | tuple[str, str]]]:
    """Yields (index of the parent in `texts`, augmented example), parents in order, up to n_iter distinct copies each.

    Tang et al. 2019: per word mask (p_mask) or POS-guided replacement (p_pos), exclusive by one draw; then with
    p_ng keep only an n-gram (see ``Augmenter``). Each distinct sentence is tagged once (``config.pos``), the
    vocabulary of replacements is built from the tagged texts themselves, then copies stream out. An example's
    copies depend only on ``seed`` and its text. ``config.max_examples`` and ``config.source`` are the caller's.
    Progress bars on stderr unless ``desc`` is None.
    """
    examples = [_as_example(text, i) for i, text in enumerate(texts)]
    tagger = make_tagger(config)
    if not tagger.has_tags and config.p_pos > 0:
        _log(f"augment: pos 'none': POS-guided replacement disabled, p_pos {config.p_pos} ignored (those words kept)")
    sentences = [s for ex in examples for s in ((ex,) if isinstance(ex, str) else ex)]
    tagged = tagger.tag(sentences, f"{desc}: tagging ({tagger.name})" if desc else None)
    vocab = PosVocabulary.from_tagged(tagged) if tagger.has_tags else None
    augmenter = Augmenter(vocab, config)
    yield from _stream(examples, dict(zip(sentences, tagged)), augmenter, seed, desc)


def augment_word_lists(sentences: Sequence[Sequence[str]], config: AugmentConfig, seed: int,
                       desc: str | None = "augmentation") -> Iterator[tuple[int, list[str]]]:
    """``augment_texts`` for sentences given as words (word-level tasks: token tagging). Yields (index of the parent,
    augmented word list). The words are the units: masking and POS-guided replacement change a word, never its
    position or the number of words (a replacement is one vocabulary word, even if it holds a space); an n-gram copy
    is a contiguous span of the words. POS tags come per word (``Tagger.tag_words``: spaCy runs on the given words,
    the lexicon looks each one up). No gold tags go with a copy: the teacher tags every augmented sentence."""
    sentences = [tuple(s) for s in sentences]
    tagger = make_tagger(config)
    if not tagger.has_tags and config.p_pos > 0:
        _log(f"augment: pos 'none': POS-guided replacement disabled, p_pos {config.p_pos} ignored (those words kept)")
    tagged = tagger.tag_words(sentences, f"{desc}: tagging ({tagger.name})" if desc else None)
    augmenter = Augmenter(PosVocabulary.from_tagged(tagged) if tagger.has_tags else None, config)
    bar = progress(len(sentences), desc or "augmentation", unit="sentence", enabled=desc is not None)
    try:
        for i, (words, parent) in enumerate(zip(sentences, tagged)):
            for copy in augmenter.augment_words(parent, example_rng(seed, list(words))):
                yield i, copy
            bar.update(1)
    finally:
        bar.close()


def example_rng(seed: int, example: Example | list[str]) -> np.random.Generator:
    """The example's own generator: a function of the seed and its text(s) (or words) only."""
    if isinstance(example, list):
        key = "\x1f".join(example) + "\x1ewords"
    else:
        key = example if isinstance(example, str) else "\x1e".join(example) + "\x1epair"
    digest = np.frombuffer(hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest(), dtype=np.uint32)
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *digest.tolist()])


def _stream(examples: list[Example], tagged: dict[str, TaggedText], augmenter: Augmenter, seed: int,
            desc: str | None) -> Iterator[tuple[int, Example]]:
    bar = progress(len(examples), desc or "augmentation", unit="example", enabled=desc is not None)
    made = 0
    try:
        for i, example in enumerate(examples):
            parent = tagged[example] if isinstance(example, str) else (tagged[example[0]], tagged[example[1]])
            for copy in augmenter.augment(parent, example_rng(seed, example)):
                made += 1
                yield i, copy
            bar.update(1)
            if i % 1000 == 999:
                bar.set_postfix(copies=made, refresh=False)
    finally:
        bar.close()


def _separators(p: Prepared, changed: np.ndarray) -> np.ndarray:
    """Whitespace after each token of each copy: the original, or a space next to a changed token."""
    near = changed.copy()
    near[:, :-1] |= changed[:, 1:]
    return np.where(near & p.glued, " ", p.spaces)


def _as_example(text: object, i: int) -> Example:
    if isinstance(text, str):
        return text
    if isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(t, str) for t in text):
        return (text[0], text[1])
    raise DataError(f"augmentation example {i}: expected a text or a pair of texts, got {type(text).__name__}")


def _key(example: Example) -> str | tuple[str, str]:
    """Whitespace-normalised form, for duplicate checks."""
    if isinstance(example, str):
        return " ".join(example.split())
    return (" ".join(example[0].split()), " ".join(example[1].split()))


def _distinct(copies: list, original: str | tuple[str, str]) -> list:
    seen = {original}
    out = []
    for copy in copies:
        key = _key(copy)
        if key not in seen:
            seen.add(key)
            out.append(copy)
    return out


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
