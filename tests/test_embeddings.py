"""WordEmbeddings: tuned, frozen and multichannel tables; students built on each."""

import pytest
import torch

from taskdistil.errors import ConfigError
from taskdistil.students.embeddings import WordEmbeddings
from taskdistil.students.registry import build_student


def test_frozen_table_gets_no_gradient_and_is_not_optimised():
    emb = WordEmbeddings(20, 4, pad_id=0, mode="frozen")
    assert not emb.weight.requires_grad
    assert [p for p in emb.parameters() if p.requires_grad] == []


def test_multichannel_concatenates_a_frozen_and_a_tuned_copy():
    emb = WordEmbeddings(20, 4, pad_id=0, mode="multichannel")
    emb.initialize(torch.arange(80, dtype=torch.float).view(20, 4))
    ids = torch.tensor([[3, 0]])
    out = emb(ids)  # (1, 2, 8)
    assert out.shape == (1, 2, 8) and emb.out_dim == 8
    assert torch.equal(out[0, 0, :4], out[0, 0, 4:])  # both channels start equal
    assert torch.equal(out[0, 1], torch.zeros(8))  # pad row is zero in both
    out.sum().backward()
    assert emb.frozen_weight.grad is None and emb.weight.grad is not None


def test_unknown_mode_is_refused():
    with pytest.raises(ConfigError, match="multichannel"):
        WordEmbeddings(5, 2, 0, mode="both")


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
@pytest.mark.parametrize("mode", ["tuned", "frozen", "multichannel"])
def test_students_train_only_what_the_mode_allows(kind, mode):
    model = build_student(kind, vocab_size=30, num_labels=2, embedding_dim=6, embedding_mode=mode,
                          hidden_size=4, fc_dim=4, num_filters=3)
    ids = torch.randint(1, 30, (3, 7))
    model(ids, torch.ones_like(ids)).logits.sum().backward()
    assert (model.embedding.weight.grad is not None) == (mode != "frozen")
    state = model.state_dict()
    assert ("embedding.frozen_weight" in state) == (mode == "multichannel")
