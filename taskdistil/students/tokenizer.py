"""Student tokenizers: the teacher's WordPiece (``tokenizer.json``), a word-level vocabulary, or an hf
student's own checkpoint tokenizer.

Each maps texts to id lists, knows its pad id and vocabulary size, and saves itself
into a model directory so a student predicts without the teacher's files. Sentence pairs ``(a, b)``
(``pairs``, saved with the tokenizer): "joint", one list ``[CLS] a [SEP] b [SEP]`` as the teacher reads
them (transformer and hf students; WordPiece only), or "separate", a tuple of each text's own list
(siamese students).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from taskdistil.data.length import TooLong, too_long_at
from taskdistil.data.pairs import Example, is_pair, segments_of
from taskdistil.errors import ArtifactError, DataError

WORD_VOCAB = "vocab.txt"
WORDPIECE_FILE = "tokenizer.json"
ENCODE_CHUNK = 8192  # texts per backend call
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class _Truncating:
    max_length: int
    keep_last: bool = False  # keep the final special token ([SEP]) when truncating
    pairs: str | None = None  # sentence pairs encoded "joint" or "separate"; None: single sentences only
    # word units (token tagging): a sentence longer than max_length is read in overlapping windows of words, as the
    # teacher reads it (students with position embeddings); False: whole sentences (``taskdistil.tasks.words``)
    windows: bool = False

    def encode(self, texts: Sequence[Example], too_long: TooLong = "truncate", where=None) -> list:
        """Id lists of ``texts``; of pairs: one list per pair ("joint") or a tuple of two lists ("separate")."""
        texts = list(texts)
        if not texts or not is_pair(texts[0]):
            return self._encode(texts, too_long, where)
        if self.pairs == "joint":
            return self._encode_joint(texts, too_long, where)
        if self.pairs != "separate":
            raise ArtifactError(f"this {self.kind} tokenizer encodes single texts, not sentence pairs")
        first = self._encode([a for a, _ in texts], too_long, _side(where, "first text"))
        second = self._encode([b for _, b in texts], too_long, _side(where, "second text"))
        return list(zip(first, second))

    def _encode(self, texts: list[str], too_long: TooLong, where) -> list[list[int]]:
        raise NotImplementedError

    def _encode_joint(self, pairs: list[tuple[str, str]], too_long: TooLong, where) -> list[list[int]]:
        raise ArtifactError(f"a {self.kind} tokenizer cannot encode a pair as one sequence (no separator token)")

    def _over(self, n: int, i: int, too_long: TooLong, where, what: str = "text") -> bool:
        """Whether ``n`` tokens exceed max_length (to be truncated); DataError if the policy is 'error'."""
        if n <= self.max_length:
            return False
        if too_long_at(too_long, i) == "error":
            place = where(i) if where else f"example {i}"
            raise DataError(f"{place}: {what} has {n} tokens, more than max_length {self.max_length}; "
                            "raise max_length or set data.too_long: truncate")
        return True

    def _with_pairs(self, meta: dict) -> dict:
        """A saved tokenizer's settings, with its pair mode and word windows if it has them (others stay as they
        were)."""
        return {**meta, **({"pairs": self.pairs} if self.pairs else {}), **({"windows": True} if self.windows else {})}

    def _fit(self, ids: list[int], i: int, too_long: TooLong, where) -> list[int]:
        if not self._over(len(ids), i, too_long, where):
            return ids
        if self.keep_last:
            return ids[: self.max_length - 1] + ids[-1:]
        return ids[: self.max_length]


class WordPieceTokenizer(_Truncating):
    """The teacher's sub-word tokenizer (fast ``tokenizers`` backend), with [CLS]/[SEP]."""

    kind = "wordpiece"
    keep_last = True  # truncate like the teacher: [CLS] ... [SEP]

    def __init__(self, backend, max_length: int, pad_token: str = "[PAD]"):
        self.backend = backend
        self.backend.no_truncation()
        self.backend.no_padding()
        self.max_length = max_length
        self.pad_token = pad_token
        pad = backend.token_to_id(pad_token)
        self.pad_id = 0 if pad is None else pad

    @classmethod
    def from_teacher(cls, hf_tokenizer, max_length: int) -> "WordPieceTokenizer":
        from tokenizers import Tokenizer

        if not getattr(hf_tokenizer, "is_fast", False):
            raise ArtifactError("student tokenizer 'wordpiece' needs a fast (tokenizer.json) teacher tokenizer")
        return cls(Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str()), max_length)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def vocabulary(self) -> list[str]:
        """Tokens by id (word pieces keep their ``##`` prefix)."""
        by_id = sorted(self.backend.get_vocab().items(), key=lambda kv: kv[1])
        return [token for token, _ in by_id]

    def _encode(self, texts: list[str], too_long: TooLong, where) -> list[list[int]]:
        return [self._fit(ids, i, too_long, where) for i, ids in enumerate(self._ids(texts))]

    def _ids(self, inputs: list) -> Iterator[list[int]]:
        """Token ids of texts (or pairs), encoded ENCODE_CHUNK at a time: a backend ``Encoding`` holds tokens,
        offsets and masks besides the ids, so a million of them at once would take gigabytes."""
        for start in range(0, len(inputs), ENCODE_CHUNK):
            yield from (e.ids for e in self.backend.encode_batch(inputs[start:start + ENCODE_CHUNK]))

    def _encode_joint(self, pairs: list[tuple[str, str]], too_long: TooLong, where) -> list[list[int]]:
        """``[CLS] a [SEP] b [SEP]`` (the checkpoint's pair template); an over-long pair loses tokens from its
        longer text first ('longest_first', as the teacher truncates)."""
        out = list(self._ids(pairs))
        over = [i for i, ids in enumerate(out) if self._over(len(ids), i, too_long, where, "pair")]
        if over:
            self.backend.enable_truncation(self.max_length, strategy="longest_first")
            try:
                for i, e in zip(over, self.backend.encode_batch([pairs[i] for i in over])):
                    out[i] = e.ids
            finally:
                self.backend.no_truncation()
        return out

    def pair_separator(self) -> int | None:
        """The id after whose first occurrence the pair template's token type 1 starts (``segment_ids``), or None
        if the template gives no token types (RoBERTa-style: pairs told apart by separators alone)."""
        sample = self.backend.encode("a", "b")
        if 1 not in sample.type_ids:
            return None
        sep = sample.ids[sample.type_ids.index(1) - 1]
        if segments_of(sample.ids, sep) != sample.type_ids:
            raise ArtifactError(f"the tokenizer's pair template gives token types {sample.type_ids} for "
                                f"{sample.tokens}: not 1 after the first separator")
        return sep

    def save(self, out_dir: Path) -> dict:
        self.backend.save(str(Path(out_dir) / WORDPIECE_FILE))
        return self._with_pairs({"kind": self.kind, "max_length": self.max_length, "file": WORDPIECE_FILE})

    @classmethod
    def load(cls, model_dir: Path, meta: dict) -> "WordPieceTokenizer":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(Path(model_dir) / meta["file"])), meta["max_length"])


class HFTokenizer(WordPieceTokenizer):
    """An hf student's own tokenizer: its checkpoint's fast tokenizer (``tokenizer.json``: WordPiece, BPE or
    Unigram, with the checkpoint's special tokens), truncated keeping the final special token, padded with the
    checkpoint's pad token."""

    kind = "hf"

    @classmethod
    def from_checkpoint(cls, hf_tokenizer, max_length: int, key: str = "checkpoint") -> "HFTokenizer":
        from tokenizers import Tokenizer

        if not getattr(hf_tokenizer, "is_fast", False):
            raise ArtifactError(f"{key}: the checkpoint's tokenizer has no fast (tokenizer.json) form")
        tokenizer = cls(Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str()), max_length,
                        hf_tokenizer.pad_token or "[PAD]")
        sample = "Hello, world!"
        if tokenizer.encode([sample])[0] != hf_tokenizer(sample)["input_ids"]:  # special tokens added outside it
            raise ArtifactError(f"{key}: the checkpoint's tokenizer.json does not encode as its tokenizer does "
                                f"(special tokens added outside the fast tokenizer?)")
        return tokenizer

    def save(self, out_dir: Path) -> dict:
        return {**super().save(out_dir), "pad_token": self.pad_token}

    @classmethod
    def load(cls, model_dir: Path, meta: dict) -> "HFTokenizer":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(Path(model_dir) / meta["file"])), meta["max_length"], meta["pad_token"])


class WordTokenizer(_Truncating):
    """Words and punctuation by a Unicode regex; ids by frequency in the transfer set; 0 pad, 1 unknown."""

    kind = "word"
    PAD, UNK = "[PAD]", "[UNK]"

    def __init__(self, vocab: list[str], lowercase: bool, max_length: int):
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.lowercase = lowercase
        self.max_length = max_length
        self.pad_id, self.unk_id = 0, 1

    @classmethod
    def build(cls, texts: Sequence[str], lowercase: bool, max_size: int, min_freq: int,
              max_length: int) -> "WordTokenizer":
        counts = Counter()
        for text in texts:
            counts.update(cls._split(text, lowercase))
        words = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_freq]
        return cls([cls.PAD, cls.UNK] + words[: max(0, max_size - 2)], lowercase, max_length)

    @staticmethod
    def _split(text: str, lowercase: bool) -> list[str]:
        return _WORD_RE.findall(text.lower() if lowercase else text)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def vocabulary(self) -> list[str]:
        return list(self.vocab)

    def _encode(self, texts: list[str], too_long: TooLong, where) -> list[list[int]]:
        out = []
        for i, text in enumerate(texts):
            ids = [self.index.get(w, self.unk_id) for w in self._split(text, self.lowercase)] or [self.unk_id]
            out.append(self._fit(ids, i, too_long, where))
        return out

    def save(self, out_dir: Path) -> dict:
        (Path(out_dir) / WORD_VOCAB).write_text("\n".join(self.vocab) + "\n", encoding="utf-8")
        return self._with_pairs({"kind": self.kind, "max_length": self.max_length, "lowercase": self.lowercase,
                                 "file": WORD_VOCAB})

    @classmethod
    def load(cls, model_dir: Path, meta: dict) -> "WordTokenizer":
        vocab = (Path(model_dir) / meta["file"]).read_text(encoding="utf-8").split("\n")[:-1]
        return cls(vocab, meta["lowercase"], meta["max_length"])


def _side(where, which: str):
    """``where`` of one text of a pair, for error messages."""
    return lambda i: f"{where(i) if where else f'example {i}'} ({which})"


def load_student_tokenizer(model_dir: Path, meta: dict):
    kinds = {"wordpiece": WordPieceTokenizer, "word": WordTokenizer, "hf": HFTokenizer}
    if meta.get("kind") not in kinds:
        raise ArtifactError(f"{model_dir}: unknown tokenizer kind {meta.get('kind')!r}; known: {sorted(kinds)}")
    tokenizer = kinds[meta["kind"]].load(model_dir, meta)
    tokenizer.pairs = meta.get("pairs")
    tokenizer.windows = bool(meta.get("windows", False))
    return tokenizer
