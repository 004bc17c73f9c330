"""Student tokenizers: the teacher's WordPiece (``tokenizer.json``), a word-level vocabulary, or an hf
student's own checkpoint tokenizer.

Each maps texts to id lists, knows its pad id and vocabulary size, and saves itself
into a model directory so a student predicts without the teacher's files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from taskdistil.data.length import TooLong, too_long_at
from taskdistil.errors import ArtifactError, DataError

WORD_VOCAB = "vocab.txt"
WORDPIECE_FILE = "tokenizer.json"
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class _Truncating:
    max_length: int
    keep_last: bool = False  # keep the final special token ([SEP]) when truncating

    def _fit(self, ids: list[int], i: int, too_long: TooLong, where) -> list[int]:
        if len(ids) <= self.max_length:
            return ids
        if too_long_at(too_long, i) == "error":
            place = where(i) if where else f"example {i}"
            raise DataError(f"{place}: text has {len(ids)} tokens, more than max_length {self.max_length}; "
                            "raise max_length or set data.too_long: truncate")
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

    def encode(self, texts: Sequence[str], too_long: TooLong = "truncate", where=None) -> list[list[int]]:
        encodings = self.backend.encode_batch(list(texts))
        return [self._fit(e.ids, i, too_long, where) for i, e in enumerate(encodings)]

    def save(self, out_dir: Path) -> dict:
        self.backend.save(str(Path(out_dir) / WORDPIECE_FILE))
        return {"kind": self.kind, "max_length": self.max_length, "file": WORDPIECE_FILE}

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

    def encode(self, texts: Sequence[str], too_long: TooLong = "truncate", where=None) -> list[list[int]]:
        out = []
        for i, text in enumerate(texts):
            ids = [self.index.get(w, self.unk_id) for w in self._split(text, self.lowercase)] or [self.unk_id]
            out.append(self._fit(ids, i, too_long, where))
        return out

    def save(self, out_dir: Path) -> dict:
        (Path(out_dir) / WORD_VOCAB).write_text("\n".join(self.vocab) + "\n", encoding="utf-8")
        return {"kind": self.kind, "max_length": self.max_length, "lowercase": self.lowercase, "file": WORD_VOCAB}

    @classmethod
    def load(cls, model_dir: Path, meta: dict) -> "WordTokenizer":
        vocab = (Path(model_dir) / meta["file"]).read_text(encoding="utf-8").split("\n")[:-1]
        return cls(vocab, meta["lowercase"], meta["max_length"])


def load_student_tokenizer(model_dir: Path, meta: dict):
    kinds = {"wordpiece": WordPieceTokenizer, "word": WordTokenizer, "hf": HFTokenizer}
    if meta.get("kind") not in kinds:
        raise ArtifactError(f"{model_dir}: unknown tokenizer kind {meta.get('kind')!r}; known: {sorted(kinds)}")
    return kinds[meta["kind"]].load(model_dir, meta)
