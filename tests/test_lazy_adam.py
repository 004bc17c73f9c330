"""LazyAdam: dense parameters as fused Adam, embedding tables updated only in the rows a batch reads."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from taskdistil.config import TrainConfig
from taskdistil.io import join_state, split_state
from taskdistil.students.embeddings import WordEmbeddings
from taskdistil.students.registry import build_student
from taskdistil.train.batching import LengthBuckets
from taskdistil.train.lazy_adam import LazyAdam, clip_grad_norm
from taskdistil.train.loop import Evaluation, build_optimizer, fit

VOCAB, DIM = 12, 4


class TinyStudent(nn.Module):
    """A table and a linear layer: logits from the mean of the embedded tokens."""

    def __init__(self, seed: int = 0, mode: str = "tuned"):
        super().__init__()
        torch.manual_seed(seed)
        self.embedding = WordEmbeddings(VOCAB, DIM, pad_id=0, mode=mode)
        self.out = nn.Linear(self.embedding.out_dim, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.embedding(ids).mean(1))


def train_steps(model: nn.Module, optimizer, batches: list[list[int]]) -> None:
    for batch in batches:
        ids = torch.tensor([batch])
        loss = nn.functional.cross_entropy(model(ids), torch.tensor([1]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def test_first_step_equals_adam_and_later_steps_leave_unread_rows_alone():
    lazy_model, dense_model = TinyStudent(), TinyStudent()
    lazy = LazyAdam.for_model(lazy_model, lr=0.1)
    dense = torch.optim.Adam(dense_model.parameters(), lr=0.1)
    assert lazy_model.embedding.sparse and len(lazy.param_groups) == 2

    train_steps(lazy_model, lazy, [[1, 2, 3]])
    train_steps(dense_model, dense, [[1, 2, 3]])
    for (name, a), b in zip(lazy_model.state_dict().items(), dense_model.state_dict().values()):
        # one step: both move rows 1-3 and the linear layer alike (SparseAdam adds eps before bias correction)
        assert torch.allclose(a, b, atol=1e-4), name

    before = lazy_model.embedding.weight.detach().clone()
    dense_before = dense_model.embedding.weight.detach().clone()
    train_steps(lazy_model, lazy, [[4, 5]])
    train_steps(dense_model, dense, [[4, 5]])
    lazy_moved = (lazy_model.embedding.weight != before).any(1)
    dense_moved = (dense_model.embedding.weight != dense_before).any(1)
    assert lazy_moved.nonzero().flatten().tolist() == [4, 5]  # only the rows this batch read
    assert dense_moved.nonzero().flatten().tolist() == [1, 2, 3, 4, 5]  # Adam's momentum moves rows 1-3 again


def test_frozen_and_multichannel_tables_keep_their_frozen_weights_dense():
    frozen = TinyStudent(mode="frozen")
    optimizer = LazyAdam.for_model(frozen, lr=0.1)
    assert not frozen.embedding.sparse and len(optimizer.parts) == 1  # no trainable table
    multichannel = TinyStudent(mode="multichannel")
    optimizer = LazyAdam.for_model(multichannel, lr=0.1)
    start = multichannel.embedding.frozen_weight.detach().clone()
    train_steps(multichannel, optimizer, [[1, 2], [3, 1]])
    assert torch.equal(multichannel.embedding.frozen_weight, start)
    assert multichannel.embedding.weight.grad.is_sparse


def test_state_dict_round_trip_resumes_exactly():
    batches = [[1, 2, 3], [4, 1], [2, 6, 7], [8, 9], [1, 5]]
    reference = TinyStudent()
    train_steps(reference, LazyAdam.for_model(reference, lr=0.05), batches)

    model = TinyStudent()
    optimizer = LazyAdam.for_model(model, lr=0.05)
    train_steps(model, optimizer, batches[:3])
    tensors, rest = split_state(optimizer.state_dict())  # as the training loop checkpoints it
    weights = copy.deepcopy(model.state_dict())

    resumed = TinyStudent(seed=99)
    resumed.load_state_dict(weights)
    again = LazyAdam.for_model(resumed, lr=0.05)
    again.load_state_dict(join_state(tensors, rest))
    train_steps(resumed, again, batches[3:])
    for (name, a), b in zip(resumed.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name


def test_clip_grad_norm_with_sparse_gradients_equals_dense_clipping():
    sparse_model, dense_model = TinyStudent(), TinyStudent()
    sparse_model.embedding.sparse = True
    for model in (sparse_model, dense_model):
        ids = torch.tensor([[1, 2, 2, 3]])  # row 2 read twice: its gradients sum
        (model(ids).sum() * 50).backward()
    assert sparse_model.embedding.weight.grad.is_sparse
    clip_grad_norm(sparse_model.parameters(), 1.0)
    clip_grad_norm(dense_model.parameters(), 1.0)
    total = torch.linalg.vector_norm(torch.stack([
        torch.linalg.vector_norm(p.grad.to_dense()) for p in sparse_model.parameters()]))
    assert total == pytest.approx(1.0, abs=1e-4)
    for a, b in zip(sparse_model.parameters(), dense_model.parameters()):
        assert torch.allclose(a.grad.to_dense(), b.grad, atol=1e-6)


def test_another_optimizer_switches_the_tables_back_to_dense_gradients():
    model = TinyStudent()
    build_optimizer(model, TrainConfig(optimizer="lazyadam", learning_rate=0.1))
    assert model.embedding.sparse
    adam = build_optimizer(model, TrainConfig(optimizer="adam", learning_rate=0.1))  # e.g. the next stage's
    assert not model.embedding.sparse
    train_steps(model, adam, [[1, 2]])  # fused Adam refuses sparse gradients: this would fail


class Crash(Exception):
    pass


def _student_fit(kind: str, workdir, crash_at: int | None = None):
    """A bilstm/cnn student fitted with lazyadam on 64 random texts (2 epochs of 8 steps);
    (model, fit result, initial table, texts)."""
    torch.manual_seed(0)
    model = build_student(kind, vocab_size=30, num_labels=2, embedding_dim=6, hidden_size=4, fc_dim=4,
                          num_filters=3, filter_widths=[2])
    rng = np.random.default_rng(0)
    texts = [rng.integers(1, 30, size=int(n)) for n in rng.integers(3, 9, size=64)]
    labels = torch.as_tensor([int(t[0] < 15) for t in texts])  # learnable from the first token
    start = model.embedding.weight.detach().clone()
    steps = []

    def logits(rows) -> torch.Tensor:
        ids = torch.zeros(len(rows), max(len(texts[i]) for i in rows), dtype=torch.long)
        for row, i in enumerate(rows):
            ids[row, : len(texts[i])] = torch.as_tensor(texts[i])
        return model(ids, (ids != 0).long()).logits

    def loss_fn(idx: np.ndarray) -> torch.Tensor:
        steps.append(1)
        if crash_at is not None and len(steps) == crash_at:
            raise Crash()
        return nn.functional.cross_entropy(logits(idx), labels[idx])

    def evaluate() -> Evaluation:
        return Evaluation({"neg_loss": -float(nn.functional.cross_entropy(logits(range(64)), labels))}, "neg_loss")

    cfg = TrainConfig(epochs=2, batch_size=8, learning_rate=1e-2, optimizer="lazyadam", checkpoint_seconds=1e-9)
    result = fit(model, loss_fn, LengthBuckets([len(t) for t in texts], 8, seed=0), evaluate, cfg, workdir)
    return model, result, start, texts


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_students_train_with_lazyadam_through_the_loop_and_resume_exactly(kind, tmp_path):
    model, result, start, texts = _student_fit(kind, tmp_path / "whole")
    assert result.steps == 16
    read = sorted({int(token) for text in texts for token in text})
    never_read = [row for row in range(1, 30) if row not in read]
    moved = (model.embedding.weight != start).any(1)
    assert moved[read].all() and not moved[never_read].any() and not moved[0]  # pad row untouched too

    with pytest.raises(Crash):  # killed inside step 11: the checkpoint holds 10 steps, lazy moments included
        _student_fit(kind, tmp_path / "crashed", crash_at=11)
    resumed, again, _, _ = _student_fit(kind, tmp_path / "crashed")
    assert again.steps == 16
    for (name, a), b in zip(resumed.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_transformer_trains_with_sparse_word_position_and_type_tables():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=16))
    optimizer = LazyAdam.for_model(bert, lr=1e-2)
    tables = [m for m in bert.modules() if isinstance(m, nn.Embedding)]
    assert len(tables) == 3 and all(t.sparse for t in tables)
    start = bert.embeddings.word_embeddings.weight.detach().clone()
    ids = torch.tensor([[2, 7, 9, 3]])
    bert(ids).last_hidden_state.pow(2).mean().backward()
    clip_grad_norm(bert.parameters(), 1.0)
    optimizer.step()
    moved = (bert.embeddings.word_embeddings.weight != start).any(1)
    assert moved.nonzero().flatten().tolist() == [2, 3, 7, 9]
