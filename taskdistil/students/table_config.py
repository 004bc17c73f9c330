"""Settings of the students with a token table of their own (kinds bilstm, cnn and static): their tokenizer
(the teacher's WordPiece vocabulary or a word vocabulary) and how the table is initialised."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from taskdistil.student_base import StudentBase

# Table initialisations that read the teacher's WordPiece vocabulary.
TEACHER_TABLES = ("svd", "model2vec")


class TableStudentConfig(StudentBase):
    """The tokenizer and embedding-table keys of bilstm, cnn and static students (``taskdistil.students.tokenizer``,
    ``taskdistil.students.embeddings``). No Patient KD: they have no layers to match to the teacher's."""

    tokenizer: Literal["wordpiece", "word"] = "wordpiece"
    lowercase: bool = True
    max_vocab: int = Field(50000, ge=10, description="word tokenizer: largest vocabulary kept")
    min_freq: int = Field(1, ge=1, description="word tokenizer: least frequency kept")
    # validate_default: the svd/word rule below must also catch the default "svd".
    embeddings: Literal["random", "svd", "vectors", "model2vec"] = Field(
        "svd", validate_default=True, description="model2vec: each vocabulary entry encoded by the teacher, PCA")
    vectors: str | None = Field(None, description="embeddings 'vectors': a word2vec/GloVe/fastText file (text, "
                                ".gz or word2vec .bin); relative paths resolve against the data directory")
    embedding_dim: int = Field(300, ge=1)
    embedding_mode: Literal["tuned", "frozen", "multichannel"] = Field(
        "tuned", description="tune the table, freeze it, or both side by side (multichannel)")

    @field_validator("embeddings")
    @classmethod
    def _svd_needs_wordpiece(cls, v: str, info: Any) -> str:
        if v in TEACHER_TABLES and info.data.get("tokenizer") == "word":
            raise ValueError(f"embeddings {v!r} needs tokenizer 'wordpiece' (the teacher's vocabulary)")
        return v

    @model_validator(mode="after")
    def _vectors_need_a_file(self) -> "TableStudentConfig":
        if self.embeddings == "vectors" and not self.vectors:
            raise ValueError("embeddings 'vectors' needs the key 'vectors': the word vectors file")
        if self.loss.pkd_weight:
            raise ValueError("loss.pkd_weight (Patient KD) needs kind 'transformer' or 'hf'")
        return self

    def build_tokenizer(self, teacher_tokenizer, texts: list, max_length: int):
        """The teacher's WordPiece vocabulary, or a word vocabulary of ``texts`` (``tokenizer: word``)."""
        if self.tokenizer == "wordpiece":
            return super().build_tokenizer(teacher_tokenizer, texts, max_length)
        from taskdistil.data.pairs import sentences
        from taskdistil.students.tokenizer import WordTokenizer

        return WordTokenizer.build(list(sentences(texts)), self.lowercase, self.max_vocab, self.min_freq, max_length)

    def input_files(self, data_file) -> dict[str, Any]:
        return {"vectors": data_file(self.vectors)} if self.vectors else {}


TABLE_KEYS = tuple(k for k in TableStudentConfig.model_fields if k not in StudentBase.model_fields)
