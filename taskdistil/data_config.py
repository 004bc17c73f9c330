"""The ``data`` section of a run config: where the labeled splits are and how a task kind reads them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TAGGING_KEYS = ("token_column", "tag_column", "scheme", "lang_prefix", "window_overlap")
QUESTION_KEYS = ("question_column", "passage_column", "tag_column", "scheme", "window_overlap")
TASK_KEYS = {"token_tagging": TAGGING_KEYS, "question_tagging": QUESTION_KEYS}  # settings of one or two tasks
TAGGED_TASKS = tuple(TASK_KEYS)  # tasks reading list cells of tags (csv/jsonl; token_tagging also conll)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Where the labeled splits are and how to read them.

    A split is a path (relative paths resolve against the data directory) to a
    .tsv/.csv/.jsonl file, or ``hf:NAME[:CONFIG][@SPLIT]`` for a Hugging Face dataset
    (NAME may be a hub name or a directory written by ``DatasetDict.save_to_disk``).
    Task ``sentence_pair`` reads each example's second text from ``text_b_column``. Task ``token_tagging`` reads
    sentences of words with one tag each (``taskdistil.tasks.tagging``): ``token_column``, ``tag_column``,
    ``scheme``, ``lang_prefix`` and ``window_overlap`` are its settings. Task ``question_tagging`` reads a question,
    a passage and one tag per passage word (``question_column``, ``passage_column``, ``tag_column``, ``scheme``,
    ``window_overlap``; ``taskdistil.tasks.question_tagging``). Task ``multi_aspect`` reads one text
    (``text_column``) and one label per aspect column (``aspect_columns``, default every other column;
    ``taskdistil.tasks.multi_aspect``).
    """

    task: Literal["single_sentence", "sentence_pair", "token_tagging", "multi_aspect",
                  "question_tagging"] = "single_sentence"
    dir: str | None = None
    train: str
    dev: str
    test: str
    format: Literal["auto", "tsv", "csv", "jsonl", "conll"] = Field(
        "auto", description="token_tagging: conll (one token per line), csv or jsonl (token and tag lists); auto: by "
        "the extension (.csv, .jsonl/.json; anything else is conll)")
    header: bool = True
    text_column: str | int = "sentence"
    text_b_column: str | int | None = Field(None, validate_default=True, description="sentence_pair: the second "
                                            "text's column (name, or index without header)")
    label_column: str | int = "label"
    too_long: Literal["error", "truncate"] = Field("error", description="a text (pair) longer than max_length: "
                                                   "fail, or truncate (pairs: the longer text first)")

    token_column: str | int = Field(0, description="token_tagging: the token column (conll: 0-based index; "
                                    "csv/jsonl: the name of the column holding token lists)")
    tag_column: str | int = Field(-1, description="token_tagging: the tag column (conll: index, -1 the last)")
    scheme: Literal["auto", "iob1", "iob2", "bioes", "io", "plain"] = Field(
        "auto", description="token_tagging: the tag scheme of the files (auto: detected on the training split); "
        "plain: tags without spans (POS), scored by token accuracy")
    lang_prefix: Literal["auto", "strip", "keep"] = Field(
        "auto", description="token_tagging: a 'xx:' language prefix on every token (WikiANN): strip it")
    window_overlap: int = Field(8, ge=0, description="token_tagging, question_tagging: words shared by neighbouring "
                                "windows of a sentence (passage) longer than the teacher's max_length")
    question_column: str | int = Field("question", description="question_tagging: the column (key) of the question's "
                                       "word list")
    passage_column: str | int = Field("passage", description="question_tagging: the column (key) of the passage's "
                                      "word list (tag_column: its tags, one per word; -1 the last column)")

    labeled_per_class: int | None = Field(None, ge=1, description="single_sentence, sentence_pair: the low-resource "
                                          "setting (XtremeDistil): keep this many training examples per class "
                                          "(sampled with labeled_seed); the rest of the training texts join the "
                                          "transfer set as unlabeled text")
    labeled_seed: int = Field(0, description="the seed of labeled_per_class's sample")
    aspect_columns: list[str] | None = Field(None, min_length=1, description="multi_aspect: the aspect columns "
                                             "(each holding one label of its own label set); default: every "
                                             "column except text_column")

    @model_validator(mode="after")
    def _tagging_settings(self) -> "DataConfig":
        tagging = self.task == "token_tagging"
        own = TASK_KEYS.get(self.task, ())
        keys = dict.fromkeys(k for ks in TASK_KEYS.values() for k in ks)
        changed = [k for k in keys if k not in own and getattr(self, k) != type(self).model_fields[k].default]  # a
        # saved run's config.yaml holds every key at its default
        if changed:
            tasks = " or ".join(repr(t) for t, ks in TASK_KEYS.items() if changed[0] in ks)
            raise ValueError(f"{changed[0]} is a setting of task {tasks} (this task is {self.task!r})")
        if self.format == "tsv" and self.task in TAGGED_TASKS:
            raise ValueError(f"format: task {self.task!r} reads csv or jsonl (token_tagging also conll: a token per "
                             "line)")
        if self.labeled_per_class is not None and self.task not in ("single_sentence", "sentence_pair"):
            raise ValueError(f"labeled_per_class is a setting of tasks 'single_sentence' and 'sentence_pair' (this "
                             f"task is {self.task!r})")
        if self.aspect_columns is not None and self.task != "multi_aspect":
            raise ValueError(f"aspect_columns is a setting of task 'multi_aspect' (this task is {self.task!r})")
        if self.task == "multi_aspect" and not self.header:
            raise ValueError("header: task 'multi_aspect' reads files whose first row names the columns")
        if self.task == "multi_aspect" and self.aspect_columns and self.text_column in self.aspect_columns:
            raise ValueError(f"aspect_columns: {self.text_column!r} is the text column")
        if self.format == "conll" and not tagging:  # question_tagging included: its rows hold three lists
            raise ValueError("format 'conll' is a format of task 'token_tagging'")
        return self

    @field_validator("text_b_column")
    @classmethod
    def _second_text_for_pairs(cls, v: str | int | None, info: Any) -> str | int | None:
        task = info.data.get("task")
        if task == "sentence_pair" and v is None:
            raise ValueError("task 'sentence_pair' needs the key 'text_b_column': the second text's column")
        if task == "single_sentence" and v is not None:
            raise ValueError("text_b_column is a setting of task 'sentence_pair' (this task is 'single_sentence')")
        return v
