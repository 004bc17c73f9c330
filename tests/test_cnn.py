"""Kim CNN student: shapes, padding invariance, short inputs, save/load through the registry."""

import pytest
import torch

from taskdistil.students.registry import build_student


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    model = build_student("cnn", vocab_size=50, num_labels=3, embedding_dim=8, num_filters=4, filter_widths=[2, 3])
    return model.eval()


def test_logits_shape_and_pooled_width(cnn):
    ids = torch.randint(1, 50, (5, 9))
    out = cnn(ids, torch.ones_like(ids))
    assert out.logits.shape == (5, 3)
    assert out.pooled.shape == (5, 8)  # 4 filters x 2 widths


@pytest.mark.parametrize("length", [1, 2, 4])
def test_padding_does_not_change_logits(cnn, length):
    seq = torch.randint(1, 50, (1, length))
    alone = cnn(seq, torch.ones_like(seq)).logits
    batch = torch.zeros((2, 7), dtype=torch.long)
    batch[0, :length] = seq[0]
    batch[1] = torch.randint(1, 50, (7,))
    mask = (torch.arange(7) < torch.tensor([[length], [7]])).long()
    batch[0, length:] = 0  # pad id
    together = cnn(batch, mask).logits[:1]
    assert torch.allclose(alone, together, atol=1e-6)


def test_text_shorter_than_widest_filter_works(cnn):
    ids = torch.tensor([[7]])
    assert torch.isfinite(cnn(ids, torch.ones_like(ids)).logits).all()


def test_default_is_kim_2014():
    model = build_student("cnn", vocab_size=10, num_labels=2)
    assert [c.kernel_size[0] for c in model.convs] == [3, 4, 5]
    assert all(c.out_channels == 100 for c in model.convs)
