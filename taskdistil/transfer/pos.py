"""Part-of-speech tags for POS-guided replacement (Tang et al. 2019): taggers and the transfer-set vocabulary.

A tagger turns each distinct text once into a ``TaggedText`` (tokens, tags, whitespace after each token,
so the text can be rebuilt). ``spacy`` uses a spaCy pipeline, ``lexicon`` a word -> tag table read from a
tagged corpus, ``none`` only tokenises (no tags: replacement disabled). ``PosVocabulary`` holds, per tag,
the words of the texts being augmented with their frequencies and draws same-tag words by frequency.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from taskdistil.errors import ConfigError
from taskdistil.progress import progress

if TYPE_CHECKING:
    from taskdistil.config import AugmentConfig

# spaCy components tagging does not need (names a pipeline lacks are ignored by spacy.load)
_SPACY_SKIP = ("parser", "ner", "lemmatizer", "trainable_lemmatizer", "attribute_ruler", "senter", "sentencizer",
               "entity_ruler", "entity_linker", "span_ruler", "spancat", "span_finder", "textcat",
               "textcat_multilabel")
_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_IOB_PREFIX = re.compile(r"^[BI]-")


class TaggedText(NamedTuple):
    """A text as tokens, each with its POS tag (None: untagged, never replaced) and the whitespace after it."""

    text: str
    tokens: tuple[str, ...]
    tags: tuple[str | None, ...]
    spaces: tuple[str, ...]

    def rebuild(self) -> str:
        return "".join(t + s for t, s in zip(self.tokens, self.spaces)).strip()


class Tagger:
    """Tags each distinct text once; later calls reuse the cache (keyed by the text)."""

    name = "tagger"
    has_tags = True  # False: tokens only, POS-guided replacement disabled

    def __init__(self) -> None:
        self._cache: dict[str, TaggedText] = {}
        self._word_cache: dict[tuple[str, ...], TaggedText] = {}

    def tag(self, texts: Sequence[str], desc: str | None = None) -> list[TaggedText]:
        """The texts tagged, in order; a progress bar over the texts not yet cached (none if ``desc`` is None)."""
        return _through_cache(self._cache, list(texts), self._tag_new, desc, "text")

    def _tag_new(self, texts: list[str]) -> Iterable[TaggedText]:
        raise NotImplementedError

    def tag_words(self, sentences: Sequence[Sequence[str]], desc: str | None = None) -> list[TaggedText]:
        """Sentences given as words (word-level tasks), tagged word by word: the words are the tokens, never split
        or merged (``text`` is the words joined by spaces); each distinct sentence once."""
        return _through_cache(self._word_cache, [tuple(words) for words in sentences], self._tag_new_words, desc,
                              "sentence")

    def _tag_new_words(self, sentences: list[tuple[str, ...]]) -> Iterable[TaggedText]:
        raise NotImplementedError


def _through_cache(cache: dict, keys: list, tag_new, desc: str | None, unit: str) -> list[TaggedText]:
    """``cache[key]`` for each key, tagging the distinct keys not cached yet with ``tag_new`` (in order; a progress
    bar over them unless ``desc`` is None)."""
    new = [k for k in dict.fromkeys(keys) if k not in cache]
    if new:
        bar = progress(len(new), desc or "tagging", unit=unit, enabled=desc is not None)
        try:
            for key, tagged in zip(new, tag_new(new), strict=True):
                cache[key] = tagged
                bar.update(1)
        finally:
            bar.close()
    return [cache[k] for k in keys]


def _words_text(words: tuple[str, ...], tags: Sequence[str | None]) -> TaggedText:
    return TaggedText(" ".join(words), words, tuple(tags), tuple([" "] * (len(words) - 1) + [""]) if words else ())


class SpacyTagger(Tagger):
    """Tokens and fine-grained tags (``tag_``; ``pos_`` for pipelines with a morphologizer only) from spaCy."""

    def __init__(self, model_name: str, batch_size: int = 256) -> None:
        super().__init__()
        self.name = f"spacy:{model_name}"
        self.nlp = _load_spacy(model_name)
        self.attribute = "tag_" if "tagger" in self.nlp.pipe_names else "pos_"
        self.batch_size = batch_size

    def _tag_new(self, texts: list[str]) -> Iterator[TaggedText]:
        for doc in self.nlp.pipe(texts, batch_size=self.batch_size):
            yield _from_doc(doc, self.attribute)

    def _tag_new_words(self, sentences: list[tuple[str, ...]]) -> Iterator[TaggedText]:
        from spacy.tokens import Doc

        docs = (Doc(self.nlp.vocab, words=list(words)) for words in sentences)  # spaCy's tokenizer not run
        for words, doc in zip(sentences, self.nlp.pipe(docs, batch_size=self.batch_size)):
            yield _words_text(words, [getattr(t, self.attribute) or None for t in doc])


class LexiconTagger(Tagger):
    """Words and punctuation split by a Unicode regex; each word's tag looked up lowercased (unknown: no tag)."""

    def __init__(self, lexicon: Mapping[str, str], name: str = "lexicon", has_tags: bool = True) -> None:
        super().__init__()
        self.lexicon = lexicon
        self.name = name
        self.has_tags = has_tags

    def _tag_new(self, texts: list[str]) -> Iterator[TaggedText]:
        for text in texts:
            tokens, spaces = split_words(text)
            tags = tuple(self.lexicon.get(t.lower()) for t in tokens)
            yield TaggedText(text, tokens, tags, spaces)

    def _tag_new_words(self, sentences: list[tuple[str, ...]]) -> Iterator[TaggedText]:
        for words in sentences:
            yield _words_text(words, [self.lexicon.get(w.lower()) for w in words])


def spacy_tagger(model_name: str, batch_size: int = 256) -> SpacyTagger:
    """A spaCy tagger loading only what tagging needs; a missing package -> ConfigError naming what to install."""
    return SpacyTagger(model_name, batch_size)


def lexicon_tagger(path: str | Path) -> LexiconTagger:
    """A tagger giving each word its most frequent tag in a tagged corpus (``read_lexicon``)."""
    return LexiconTagger(read_lexicon(path), name=f"lexicon:{Path(path).name}")


def plain_tagger() -> LexiconTagger:
    """``pos: none``: the lexicon tagger's tokenisation, no tags (nothing is ever replaced)."""
    return LexiconTagger({}, name="none", has_tags=False)


def make_tagger(config: AugmentConfig) -> Tagger:
    """The tagger ``config.pos`` names."""
    if config.pos == "spacy":
        return spacy_tagger(config.spacy_model)
    if config.pos == "lexicon":
        return lexicon_tagger(config.pos_lexicon)
    return plain_tagger()


def split_words(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tokens, whitespace after each): runs of word characters and single punctuation marks."""
    matches = list(_TOKEN_RE.finditer(text))
    tokens = tuple(m.group() for m in matches)
    ends = [m.start() for m in matches[1:]] + [len(text)]
    spaces = tuple(text[m.end():end] for m, end in zip(matches, ends))
    return tokens, spaces


def read_lexicon(path: str | Path) -> dict[str, str]:
    """Lowercased word -> most frequent tag (ties: alphabetical) of a ``token<TAB>tag`` corpus; ``B-``/``I-``
    prefixes stripped, blank lines separate sentences. A malformed line -> ConfigError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"augment.pos_lexicon: {path} not found (a tagged corpus: token<TAB>tag per line)")
    counts: dict[str, Counter] = defaultdict(Counter)
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, 1):
                word, tag = _lexicon_line(path, line_no, line)
                if word:
                    counts[word][tag] += 1
    except UnicodeDecodeError as err:
        raise ConfigError(f"augment.pos_lexicon: {path} is not UTF-8 text ({err})") from None
    if not counts:
        raise ConfigError(f"augment.pos_lexicon: {path} holds no tagged tokens (expected token<TAB>tag lines)")
    return {word: min(tags.items(), key=lambda kv: (-kv[1], kv[0]))[0] for word, tags in counts.items()}


def _lexicon_line(path: Path, line_no: int, line: str) -> tuple[str, str]:
    """(lowercased token, tag without IOB prefix); ("", "") for a blank line."""
    line = line.rstrip("\r\n")
    if not line.strip():
        return "", ""
    fields = [f.strip() for f in line.split("\t")]
    if len(fields) != 2 or not all(fields):
        raise ConfigError(f"augment.pos_lexicon: {path} line {line_no}: expected 'token<TAB>tag', got {line!r}")
    tag = _IOB_PREFIX.sub("", fields[1])
    if not tag:
        raise ConfigError(f"augment.pos_lexicon: {path} line {line_no}: empty tag in {line!r}")
    return fields[0].lower(), tag


@lru_cache(maxsize=4)
def _load_spacy(model_name: str):
    try:
        import spacy
    except ImportError:
        raise ConfigError("augment.pos 'spacy' needs spaCy: pip install 'spacy>=3.7' "
                          "(or set augment.pos: lexicon / none)") from None
    try:
        nlp = spacy.load(model_name, exclude=list(_SPACY_SKIP))
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"augment.spacy_model: cannot load the spaCy pipeline {model_name!r}; install it with "
                          f"pip install {model_name.replace('_', '-')} ({first})") from None
    if not {"tagger", "morphologizer"} & set(nlp.pipe_names):
        raise ConfigError(f"augment.spacy_model: the spaCy pipeline {model_name!r} has no tagger or morphologizer "
                          f"(components: {nlp.pipe_names})")
    return nlp


def _from_doc(doc, attribute: str) -> TaggedText:
    """A spaCy Doc as a TaggedText; whitespace tokens join the whitespace after the token before them."""
    tokens: list[str] = []
    tags: list[str | None] = []
    spaces: list[str] = []
    for token in doc:
        if token.is_space:
            if spaces:
                spaces[-1] += token.text_with_ws
            continue
        tokens.append(token.text)
        tags.append(getattr(token, attribute) or None)
        spaces.append(token.whitespace_)
    return TaggedText(doc.text, tuple(tokens), tuple(tags), tuple(spaces))


class PosVocabulary:
    """Per POS tag, words with their frequencies; draws same-tag words by frequency.

    Entries are sorted by (tag, -count, word), so the vocabulary (and every draw) depends on the counts only,
    not on the order of the texts. One cumulative-count array over all entries serves every tag: a draw is
    ``np.searchsorted`` of a batch of points, each placed inside its tag's segment.
    """

    def __init__(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        rows = sorted((tag, -int(c), word) for tag, words in counts.items() for word, c in words.items() if c > 0)
        self.tags = sorted({tag for tag, _, _ in rows})
        tag_id = {tag: i for i, tag in enumerate(self.tags)}
        self.words = np.array([word for _, _, word in rows], dtype=object)
        self.entry_tag = np.array([tag_id[tag] for tag, _, _ in rows], dtype=np.int64)
        self.counts = np.array([-c for _, c, _ in rows], dtype=np.float64)
        self.cum_end = np.cumsum(self.counts)
        self.cum_start = self.cum_end - self.counts
        first = np.searchsorted(self.entry_tag, np.arange(len(self.tags)), side="left")
        last = np.searchsorted(self.entry_tag, np.arange(len(self.tags)), side="right") - 1
        self.tag_first, self.tag_last = first, last
        self.tag_lo = self.cum_start[first] if len(rows) else np.zeros(0)
        self.tag_total = self.cum_end[last] - self.tag_lo if len(rows) else np.zeros(0)
        self._index = {(tag, word): i for i, (tag, _, word) in enumerate(rows)}

    @classmethod
    def from_tagged(cls, tagged: Iterable[TaggedText]) -> "PosVocabulary":
        """Counts of (tag, word) over every token of the texts (each occurrence of a text counts)."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for text in tagged:
            for word, tag in zip(text.tokens, text.tags):
                if tag is not None:
                    counts[tag][word] += 1
        return cls(counts)

    def __len__(self) -> int:
        return len(self._index)

    def words_of(self, tag: str) -> dict[str, int]:
        """The words of one tag with their counts, most frequent first."""
        return {self.words[i]: int(self.counts[i]) for (t, _), i in self._index.items() if t == tag}

    def entries(self, tokens: Sequence[str], tags: Sequence[str | None]) -> np.ndarray:
        """Entry ids of (tag, token) pairs; -1 where untagged or unknown."""
        return np.array([self._index.get((tag, word), -1) for word, tag in zip(tokens, tags)], dtype=np.int64)

    def replaceable(self, entries: np.ndarray) -> np.ndarray:
        """True where the entry's tag has another word to draw."""
        known = entries >= 0
        out = np.zeros(len(entries), dtype=bool)
        e = entries[known]
        out[known] = self.tag_total[self.entry_tag[e]] - self.counts[e] > 0
        return out

    def sample(self, tag: str, u: np.ndarray) -> np.ndarray:
        """Words of ``tag`` drawn by frequency, one per uniform in ``u``."""
        t = self.tags.index(tag)
        points = self.tag_lo[t] + np.asarray(u) * self.tag_total[t]
        idx = np.searchsorted(self.cum_end, points, side="right")
        return self.words[np.clip(idx, self.tag_first[t], self.tag_last[t])]

    def sample_other(self, entries: np.ndarray, u: np.ndarray) -> np.ndarray:
        """For each entry (all replaceable), another entry of its tag drawn by frequency (the entry itself excluded:
        a point in the tag's mass without the entry's share, shifted past that share)."""
        tag = self.entry_tag[entries]
        own = self.counts[entries]
        points = u * (self.tag_total[tag] - own)
        points += (points >= self.cum_start[entries] - self.tag_lo[tag]) * own
        idx = np.searchsorted(self.cum_end, self.tag_lo[tag] + points, side="right")
        return np.clip(idx, self.tag_first[tag], self.tag_last[tag])
