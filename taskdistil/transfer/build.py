"""Build the transfer set: labeled training text + unlabeled sources + augmentation, written as a stream.

Order (and precedence under the ``max_examples`` cap): every labeled row first, in the training split's
order (kept even if duplicated: each carries its gold label), then each unlabeled source, then the augmented
examples. An unlabeled or augmented example equal to an earlier one (after whitespace normalisation) is
dropped. A source's ``max_examples`` keeps the first ones or a uniform sample (reservoir sampling under the
run's seed, written in source order). ``summary.json`` beside the set counts everything by origin and source
and holds a length histogram (words) per origin. A sentence pair is one example (its row's ``text`` is the list
``[a, b]``; its words are both texts' words), a duplicate only if both texts match. A sentence of a word-level
task (token tagging) is its list of words (the row's ``words``): unlabeled sources are then read as words
(``taskdistil.transfer.word_sources``: CoNLL tokens with the tags ignored, or texts split into words).
A question-tagging example is the pair of word lists ``[question, passage]`` (the row's ``text``).

A share ``transfer.heldout`` of the unique unlabeled texts (chosen by a seeded hash of each text, so the choice
does not depend on order) is set aside in ``heldout.jsonl`` before any source's sampling: never annotated, never
trained on, and kept out of the augmentation (a duplicate of it is dropped), it is the exam's default fidelity
set. A run without unlabeled sources writes no ``heldout.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from taskdistil.config import RunConfig, TransferConfig
from taskdistil.data import Split
from taskdistil.data.pairs import Example, sentences
from taskdistil.io import write_json
from taskdistil.progress import progress
from taskdistil.tasks import task_kind
from taskdistil.transfer.sources import SourceCounts, read_unlabeled
from taskdistil.transfer.store import (
    EXAMPLES,
    HELDOUT,
    LABELED_ROWS,
    OFFSETS,
    ORIGIN_NAMES,
    ORIGINS,
    SUMMARY,
    TransferSet,
)
from taskdistil.transfer.word_sources import read_unlabeled_words

LENGTH_BINS = (1, 3, 6, 11, 21, 41, 81, 161)  # histogram bin starts, in words: 1-2, 3-5, ..., 161+


def _words(text: str | list[str]) -> list[str]:
    """A text's words (split on whitespace), or a list of words as it is."""
    return text if isinstance(text, list) else text.split()


def text_key(text: Example) -> int:
    """64-bit hash of the whitespace-normalised text, or of both texts of a pair (the duplicate test; a text may be
    a list of words: a tagged sentence, or the question and passage of question tagging)."""
    normal = " ".join(text) if isinstance(text, list) else "\x1f".join(
        " ".join(_words(t)) for t in sentences([text]))  # a text alone: no separator added
    return int.from_bytes(hashlib.blake2b(normal.encode(), digest_size=8).digest(), "little")


def length_bin(words: int) -> str:
    index = int(np.searchsorted(LENGTH_BINS, words, side="right")) - 1
    start = LENGTH_BINS[max(0, index)]
    return f"{start}+" if index == len(LENGTH_BINS) - 1 else f"{start}-{LENGTH_BINS[index + 1] - 1}"


class _Writer:
    """Appends rows to ``examples.jsonl`` (temporary name until ``close``) and collects the index arrays."""

    def __init__(self, out_dir: Path, cap: int | None):
        self.out_dir = out_dir
        self.tmp = out_dir / f".{EXAMPLES}.tmp"
        self.fh = self.tmp.open("wb")
        self.offsets = array("q", [0])
        self.origins = bytearray()
        self.labeled_rows = array("q")
        self.cap = cap
        self.lengths: dict[str, dict[str, int]] = {name: {} for name in ORIGIN_NAMES}
        self.texts_kept: list[str] | None = None  # filled when augmentation draws on every row

    def full(self) -> bool:
        return self.cap is not None and len(self.origins) >= self.cap

    def add(self, text: Example, origin: str, where: str | None = None, labeled_row: int = -1,
            parent: int | None = None) -> bool:
        if self.full():
            return False
        row = {"words" if isinstance(text, list) else "text": text, "origin": origin}
        if where is not None:
            row["where"] = where
        if parent is not None:
            row["parent"] = parent
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
        self.fh.write(line)
        self.offsets.append(self.offsets[-1] + len(line))
        self.origins.append(ORIGIN_NAMES.index(origin))
        self.labeled_rows.append(labeled_row)
        histogram = self.lengths[origin]
        bucket = length_bin(len(text) if isinstance(text, list) else sum(len(_words(t)) for t in sentences([text])))
        histogram[bucket] = histogram.get(bucket, 0) + 1
        if self.texts_kept is not None:
            self.texts_kept.append(text)
        return True

    def close(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        np.save(self.out_dir / OFFSETS, np.frombuffer(self.offsets, dtype=np.int64), allow_pickle=False)
        np.save(self.out_dir / ORIGINS, np.frombuffer(bytes(self.origins), dtype=np.uint8), allow_pickle=False)
        np.save(self.out_dir / LABELED_ROWS, np.frombuffer(self.labeled_rows, dtype=np.int64), allow_pickle=False)
        self.tmp.replace(self.out_dir / EXAMPLES)  # last: the set exists only once its index does


class _Heldout:
    """Sets aside the unlabeled texts whose seeded hash falls under ``share``, written to ``heldout.jsonl``."""

    def __init__(self, out_dir: Path, share: float, seed: int):
        self.path = out_dir / HELDOUT
        self.tmp = out_dir / f".{HELDOUT}.tmp"
        self.fh = self.tmp.open("w", encoding="utf-8")
        self.threshold = int(share * 2 ** 64)
        self.salt = f"{seed}\x1f".encode()
        self.count = 0

    def held_out(self, text: Example | list[str]) -> bool:
        normal = (" ".join(text) if isinstance(text, list) else
                  "\x1f".join(" ".join(t.split()) for t in sentences([text]))).encode()
        digest = hashlib.blake2b(self.salt + normal, digest_size=8).digest()
        return int.from_bytes(digest, "little") < self.threshold

    def others(self, items: Iterable[tuple]) -> Iterator[tuple]:
        """The (text, where) items not held out; the held-out ones are written."""
        for text, where in items:
            if self.held_out(text):
                row = {"words" if isinstance(text, list) else "text": text, "where": where}
                self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                self.count += 1
            else:
                yield text, where

    def close(self, keep: bool) -> None:
        self.fh.close()
        if keep:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def sample(items: Iterable, cap: int | None, how: str, seed: int) -> Iterator:
    """At most ``cap`` of ``items``: the first ones, or a uniform sample in input order (reservoir sampling:
    only ``cap`` items are held)."""
    if cap is None:
        yield from items
        return
    if how == "first":
        for n, item in enumerate(items):
            if n >= cap:
                return
            yield item
        return
    rng = np.random.default_rng(seed)
    reservoir: list = []
    for n, item in enumerate(items):
        if n < cap:
            reservoir.append((n, item))
        else:
            j = int(rng.integers(0, n + 1))
            if j < cap:
                reservoir[j] = (n, item)
    reservoir.sort(key=lambda pair: pair[0])
    yield from (item for _, item in reservoir)


def _unique(items: Iterable[tuple], seen: set[int], counter: dict, key: str = "duplicates") -> Iterator[tuple]:
    """Items whose text (first element) is not in ``seen``; counts the dropped ones under ``counter[key]``."""
    for item in items:
        h = text_key(item[0])
        if h in seen:
            counter[key] = counter.get(key, 0) + 1
            continue
        seen.add(h)
        yield item


def build_transfer_set(config: RunConfig, train: Split, out_dir: Path, rest: Split | None = None) -> dict:
    """Write the transfer set of ``config.transfer`` into ``out_dir``; returns its summary. ``rest``: training
    examples left unlabeled (``data.labeled_per_class``), added as unlabeled text after the labeled rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    transfer: TransferConfig = config.transfer
    writer = _Writer(out_dir, transfer.max_examples)
    augment = transfer.augment
    if augment is not None and augment.source == "all":
        writer.texts_kept = []
    seen: set[int] = set()
    summary: dict = {"sources": [], "capped": False}
    heldout = _Heldout(out_dir, transfer.heldout, config.seed) if transfer.unlabeled and transfer.heldout else None
    words = task_kind(config.data.task).unit == "word"  # sentences as word lists (token tagging)
    read = read_unlabeled_words if words else read_unlabeled
    try:
        for i, text in enumerate(train.texts):  # labeled rows: all kept, duplicates too (each has its label)
            seen.add(text_key(text))
            writer.add(text, "labeled", train.where(i), labeled_row=i)
        if rest is not None:  # their labels unused: the teacher labels them (no held-out share: see heldout)
            dropped, kept = {}, 0
            for text, where in _unique(((t, rest.where(i)) for i, t in enumerate(rest.texts)),
                                       seen if transfer.dedup else set(), dropped):
                if not writer.add(text, "unlabeled", where):
                    break
                kept += 1
            summary["sources"].append({"path": f"{rest.source} (labeled_per_class: the rest, unlabeled)",
                                       "examples_read": len(rest), "duplicates": dropped.get("duplicates", 0),
                                       "kept": kept})
        for number, source in enumerate(transfer.unlabeled):
            counts, dropped, kept = SourceCounts(), {}, 0
            stream = read(source, config.data_source(source.path), counts)
            with progress(None, f"reading {source.path}", unit="ex") as bar:
                unique = _unique(_counted(stream, bar), seen if transfer.dedup else set(), dropped)
                unique = heldout.others(unique) if heldout else unique
                for text, where in sample(unique, source.max_examples, source.sample, config.seed + number):
                    if not writer.add(text, "unlabeled", where):
                        break
                    kept += 1
            summary["sources"].append({"path": source.path, "documents": counts.documents,
                                       "examples_read": counts.examples, "too_short": counts.too_short,
                                       "too_long": counts.too_long, "duplicates": dropped.get("duplicates", 0),
                                       "kept": kept})
        if augment is not None and not writer.full():
            summary["augmentation"] = _augment_into(writer, config, train, seen if transfer.dedup else set(),
                                                    words=words)
        summary["capped"] = writer.full()
        if heldout:
            summary["heldout"] = {"file": HELDOUT, "share": transfer.heldout, "count": heldout.count}
    except BaseException:
        writer.fh.close()
        writer.tmp.unlink(missing_ok=True)
        if heldout:
            heldout.close(keep=False)
        raise
    if heldout:
        heldout.close(keep=True)
    writer.close()
    counts = TransferSet(out_dir).counts()
    histogram = {origin: {label: bins[label] for label in _bin_labels() if label in bins}
                 for origin, bins in writer.lengths.items()}
    summary = {"count": sum(counts.values()), "by_origin": counts, **summary, "length_histogram_words": histogram}
    write_json(out_dir / SUMMARY, summary)
    return summary


def _bin_labels() -> list[str]:
    return [length_bin(start) for start in LENGTH_BINS]


def _counted(stream: Iterable, bar) -> Iterator:
    for item in stream:
        bar.update(1)
        yield item


def _augment_into(writer: _Writer, config: RunConfig, train: Split, seen: set[int], words: bool = False) -> dict:
    """Augmented copies of the labeled (or all) rows; word lists (``words``) are augmented word by word and carry no
    gold tags (``labeled_row`` -1): the teacher tags every copy."""
    from taskdistil.transfer.augment import augment_texts, augment_word_lists

    augment = config.transfer.augment
    if augment.pos_lexicon:
        augment = augment.model_copy(update={"pos_lexicon": config.data_file(augment.pos_lexicon)})
    parents = train.texts if augment.source == "labeled" else writer.texts_kept
    dropped: dict = {}
    augmented = (augment_word_lists if words else augment_texts)(parents, augment, config.seed)
    stream = ((text, parent) for parent, text in augmented)
    unique = _unique(stream, seen, dropped)
    kept = 0
    for text, parent in sample(unique, augment.max_examples, "random", config.seed + 1000):
        if not writer.add(text, "augmented", parent=parent):
            break
        kept += 1
    return {"parents": len(parents), "duplicates": dropped.get("duplicates", 0), "kept": kept,
            "settings": augment.model_dump(mode="json")}
