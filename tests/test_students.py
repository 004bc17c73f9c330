"""Students: the BiLSTM model, the two student tokenizers and SVD embedding reduction."""

from __future__ import annotations

import pytest
import torch

from taskdistil.errors import ConfigError, DataError
from taskdistil.students.bilstm import BiLSTMStudent
from taskdistil.students.embeddings import svd_reduce
from taskdistil.students.output import StudentOutput
from taskdistil.students.registry import build_student
from taskdistil.students.tokenizer import WordPieceTokenizer, WordTokenizer, load_student_tokenizer
from taskdistil.train.batching import pad_ids

POOLINGS = ["last", "max", "mean"]


VOCAB, LABELS = 50, 3


def tiny_bilstm(pooling: str = "last", num_layers: int = 1, seed: int = 0) -> BiLSTMStudent:
    torch.manual_seed(seed)
    model = build_student("bilstm", vocab_size=VOCAB, num_labels=LABELS, embedding_dim=12, hidden_size=7,
                          fc_dim=9, num_layers=num_layers, pooling=pooling, dropout=0.3,
                          not_a_field="ignored")
    return model


# -- BiLSTMStudent -------------------------------------------------------------------------

@pytest.mark.parametrize("pooling", POOLINGS)
def test_bilstm_logits_shape(pooling):
    model = tiny_bilstm(pooling).eval()
    assert isinstance(model, BiLSTMStudent)
    assert model.config.pooling == pooling and model.config.hidden_size == 7
    ids, mask = pad_ids([[2, 3, 4, 5], [6, 7], [8]])
    out = model(ids, mask)
    assert isinstance(out, StudentOutput)
    assert out.logits.shape == (3, LABELS)
    assert out.pooled.shape == (3, 2 * 7)
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_bilstm_padding_invariance(pooling, num_layers):
    """A sequence's logits alone == its logits inside a padded batch (packing + masking)."""
    model = tiny_bilstm(pooling, num_layers).eval()
    short, longer, longest = [5, 9, 13], [2, 3, 4, 5, 6, 7], [11, 12, 13, 14, 15, 16, 17, 18, 19]
    with torch.no_grad():
        alone = {tuple(s): model(*pad_ids([s])).logits[0] for s in (short, longer, longest)}
        # unsorted lengths, and garbage (non-pad) ids in the padded positions: only the mask may matter
        ids, mask = pad_ids([short, longest, longer])
        ids[mask == 0] = 7
        batch = model(ids, mask).logits
    for row, seq in enumerate([short, longest, longer]):
        torch.testing.assert_close(batch[row], alone[tuple(seq)], rtol=1e-5, atol=1e-6)
    # the short sequence really is different from the others (the check is not vacuous)
    assert not torch.allclose(alone[tuple(short)], alone[tuple(longest)], atol=1e-4)


def test_bilstm_two_layers_uses_last_layer_state():
    model = tiny_bilstm("last", num_layers=2).eval()
    assert model.lstm.num_layers == 2
    ids, mask = pad_ids([[2, 3, 4], [5, 6]])
    with torch.no_grad():
        out = model(ids, mask)
        _, (h_n, _) = model.lstm(model.embedding(ids[:1, :3]))
    assert out.logits.shape == (2, LABELS)
    assert h_n.shape[0] == 4  # (layers * directions, B, H)
    # pooled = final forward and backward states of the top layer
    torch.testing.assert_close(out.pooled[0], torch.cat([h_n[-2, 0], h_n[-1, 0]]))


@pytest.mark.parametrize("pooling", POOLINGS)
def test_bilstm_gradients_reach_embedding(pooling):
    model = tiny_bilstm(pooling, num_layers=2).train()
    ids, mask = pad_ids([[2, 3, 4, 5], [6, 7]])
    model(ids, mask).logits.pow(2).sum().backward()
    grad = model.embedding.weight.grad
    assert grad is not None
    used = [2, 3, 4, 5, 6, 7]
    assert (grad[used].abs().sum(-1) > 0).all()
    assert grad[0].abs().sum() == 0  # pad row (padding_idx) gets no gradient
    assert grad[[1, 8, 20]].abs().sum() == 0  # rows never looked up stay untouched


def test_bilstm_eval_is_deterministic_train_uses_dropout():
    model = tiny_bilstm("mean")
    ids, mask = pad_ids([[2, 3, 4, 5, 6, 7, 8, 9]] * 4)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask).logits, model(ids, mask).logits)
        model.train()
        torch.manual_seed(1)
        a = model(ids, mask).logits
        b = model(ids, mask).logits
    assert not torch.allclose(a, b)


# -- WordTokenizer ---------------------------------------------------------------------------

TEXTS = ["the cat sat on the mat .", "The dog sat !", "a cat , a dog , the end"]


def test_word_tokenizer_build_and_encode():
    tok = WordTokenizer.build(TEXTS, lowercase=True, max_size=100, min_freq=1, max_length=16)
    assert (tok.pad_id, tok.unk_id) == (0, 1)
    # the x4; ",", a, cat, dog, sat x2; the rest x1 -- by frequency, ties alphabetical
    assert tok.vocab == ["[PAD]", "[UNK]", "the", ",", "a", "cat", "dog", "sat", "!", ".", "end", "mat", "on"]
    assert tok.vocab_size == 13
    ids = tok.encode(["The cat sat.", "zebra cat"])
    assert ids[0] == [tok.index["the"], tok.index["cat"], tok.index["sat"], tok.index["."]]
    assert ids[1] == [tok.unk_id, tok.index["cat"]]
    assert tok.encode([""]) == [[tok.unk_id]]  # never an empty sequence


def test_word_tokenizer_case_sensitive():
    tok = WordTokenizer.build(TEXTS, lowercase=False, max_size=100, min_freq=1, max_length=16)
    assert "The" in tok.index and "the" in tok.index and tok.index["The"] != tok.index["the"]
    assert tok.encode(["THE"]) == [[tok.unk_id]]


def test_word_tokenizer_max_vocab_and_min_freq():
    capped = WordTokenizer.build(TEXTS, lowercase=True, max_size=5, min_freq=1, max_length=16)
    assert capped.vocab_size == 5
    assert capped.vocab == ["[PAD]", "[UNK]", "the", ",", "a"]  # most frequent first, ties alphabetical
    assert capped.encode(["the mat"]) == [[2, capped.unk_id]]
    frequent = WordTokenizer.build(TEXTS, lowercase=True, max_size=100, min_freq=2, max_length=16)
    assert set(frequent.vocab[2:]) == {"the", "a", "cat", "dog", "sat", ","}
    assert frequent.encode(["on mat"]) == [[1, 1]]


def test_word_tokenizer_save_load_roundtrip(tmp_path):
    tok = WordTokenizer.build(TEXTS + ["naïve café déjà-vu ?"], lowercase=True, max_size=100, min_freq=1,
                              max_length=7)
    meta = tok.save(tmp_path)
    loaded = load_student_tokenizer(tmp_path, meta)
    assert isinstance(loaded, WordTokenizer)
    assert loaded.vocab == tok.vocab and loaded.max_length == 7 and loaded.lowercase is True
    probe = ["The cat sat on a NAÏVE café !", "unknown words here", "déjà-vu", "x " * 20]
    assert loaded.encode(probe) == tok.encode(probe)


def test_word_tokenizer_too_long():
    tok = WordTokenizer.build(TEXTS, lowercase=True, max_size=100, min_freq=1, max_length=3)
    texts = ["the cat", "the cat sat on the mat"]
    with pytest.raises(DataError) as err:
        tok.encode(texts, too_long="error", where=lambda i: f"train.tsv line {i + 2}")
    assert "train.tsv line 3" in str(err.value) and "max_length 3" in str(err.value)
    with pytest.raises(DataError, match="example 1"):
        tok.encode(texts, too_long="error")
    full = WordTokenizer.build(TEXTS, lowercase=True, max_size=100, min_freq=1, max_length=100).encode(texts)
    out = tok.encode(texts, too_long="truncate")
    assert out == [full[0], full[1][:3]]


# -- WordPieceTokenizer ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_tokenizer(tiny_teacher):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_teacher)


WP_TEXTS = ["Hello, world!", "a remarkably unremarkable film", "naïve café", "", "x" * 40]


def test_wordpiece_matches_hf(hf_tokenizer):
    tok = WordPieceTokenizer.from_teacher(hf_tokenizer, max_length=64)
    expected = hf_tokenizer(WP_TEXTS, add_special_tokens=True, truncation=False)["input_ids"]
    got = tok.encode(WP_TEXTS)
    assert got == expected
    assert all(s[0] == hf_tokenizer.cls_token_id and s[-1] == hf_tokenizer.sep_token_id for s in got)
    assert any(len(s) > 4 for s in got)  # sub-word splits actually happen
    assert tok.pad_id == hf_tokenizer.pad_token_id
    assert tok.vocab_size == len(hf_tokenizer)


def test_wordpiece_encodes_in_chunks_as_in_one_call(hf_tokenizer, monkeypatch):
    import taskdistil.students.tokenizer as tokenizer_module

    tok = WordPieceTokenizer.from_teacher(hf_tokenizer, max_length=6)
    whole = tok.encode(WP_TEXTS * 3)
    monkeypatch.setattr(tokenizer_module, "ENCODE_CHUNK", 2)  # 15 texts in 8 backend calls
    assert tok.encode(WP_TEXTS * 3) == whole
    with pytest.raises(DataError, match="line 10: text has 22 tokens"):  # row numbers run on across chunks
        tok.encode(WP_TEXTS * 3, too_long=lambda i: "error" if i >= 9 else "truncate", where=lambda i: f"line {i + 1}")


def test_wordpiece_save_load_roundtrip(hf_tokenizer, tmp_path):
    tok = WordPieceTokenizer.from_teacher(hf_tokenizer, max_length=6)
    meta = tok.save(tmp_path)
    assert (tmp_path / meta["file"]).is_file()
    loaded = load_student_tokenizer(tmp_path, meta)
    assert isinstance(loaded, WordPieceTokenizer) and loaded.max_length == 6
    assert loaded.encode(WP_TEXTS) == tok.encode(WP_TEXTS)
    assert max(len(s) for s in loaded.encode(WP_TEXTS)) == 6  # truncation applies after loading too
    with pytest.raises(DataError, match="dev line 2: text has 9 tokens"):  # first over-long text
        loaded.encode(WP_TEXTS, too_long="error", where=lambda i: f"dev line {i + 1}")


# -- svd_reduce --------------------------------------------------------------------------------

def _weight(v=40, h=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(v, h, generator=g, dtype=torch.float64).float()


def test_svd_reduce_shapes():
    w = _weight()
    for e in (1, 4, 10):
        assert svd_reduce(w, e).shape == (40, e)


def test_svd_reduce_full_dim_preserves_gram():
    w = _weight()
    r = svd_reduce(w, 10)
    torch.testing.assert_close(r @ r.T, w @ w.T, rtol=1e-4, atol=1e-4)
    # i.e. the same vectors up to a rotation: norms and pairwise distances are kept
    torch.testing.assert_close(r.norm(dim=1), w.norm(dim=1), rtol=1e-4, atol=1e-5)


def test_svd_reduce_is_best_rank_e_approximation():
    w = _weight(seed=3)
    s = torch.linalg.svdvals(w.double())
    for e in (2, 5, 9):
        r = svd_reduce(w, e).double()
        # the best reconstruction of W from the E reduced coordinates (least squares r @ B ~ W)
        b = torch.linalg.lstsq(r, w.double()).solution
        error = torch.linalg.norm(w.double() - r @ b)
        expected = torch.sqrt((s[e:] ** 2).sum())
        assert error.item() == pytest.approx(expected.item(), rel=1e-4)
        # Eckart-Young: no other rank-E approximation does better; a random one does worse
        g = torch.Generator().manual_seed(e)
        q = torch.linalg.qr(torch.randn(10, e, generator=g, dtype=torch.float64)).Q
        assert torch.linalg.norm(w.double() - w.double() @ q @ q.T) > error * 1.01


def test_svd_reduce_cannot_grow():
    with pytest.raises(ConfigError, match="11"):
        svd_reduce(_weight(), 11)


def test_each_kind_builds_its_tokenizer_and_reads_pairs_its_way(tiny_teacher):
    """The kind decides (its settings class): the teacher's WordPiece, a word vocabulary or the checkpoint's own
    tokenizer; sentence pairs encoded text by text (siamese) or as one sequence."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from taskdistil.config import student_config
    from taskdistil.student_build import build_tokenizer
    from taskdistil.students.tokenizer import HFTokenizer

    teacher = SimpleNamespace(tokenizer=AutoTokenizer.from_pretrained(tiny_teacher), max_length=32)
    texts = ["a fine film", "a dull film"]
    word = build_tokenizer(student_config(kind="cnn", tokenizer="word", embeddings="random"), teacher, texts,
                           "single_sentence")
    assert isinstance(word, WordTokenizer) and word.max_length == 32
    pairs = [("a fine film", "it is"), ("a dull film", "it is not")]
    built = {kind: build_tokenizer(student_config(kind=kind, **settings), teacher, pairs, "sentence_pair")
             for kind, settings in [("bilstm", {}), ("static", {}), ("transformer", {}),
                                    ("hf", {"checkpoint": "embedded:minilm-l6", "max_length": 16})]}
    assert {kind: t.pairs for kind, t in built.items()} == {"bilstm": "separate", "static": "separate",
                                                             "transformer": "joint", "hf": "joint"}
    assert all(isinstance(built[k], WordPieceTokenizer) for k in ("bilstm", "static", "transformer"))
    assert isinstance(built["hf"], HFTokenizer) and built["hf"].max_length == 16
