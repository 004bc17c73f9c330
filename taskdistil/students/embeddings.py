"""Word embeddings for word-level students: initialisation and tuned/frozen/multichannel tables.

``svd_reduce``: XtremeDistil (Mukherjee & Hassan Awadallah 2020) — the teacher's WordPiece
embedding matrix W (V, H) = U S V^T, reduced to E dims as U[:, :E] * S[:E] (the best
rank-E approximation's coordinates), so the student starts from the teacher's lexicon.

``vocabulary_embeddings`` + ``pca_reduce``: model2vec-style (Tulkens & van Dongen 2024, the ``model2vec`` package's
distill): every vocabulary entry v is read by the teacher alone, as ``[CLS] v [SEP]``, its top layer's states are
mean-pooled, and the (V, H) result is reduced by PCA to E dims. The table then holds the teacher's contextual view of
each token (after fine-tuning: its task view), not only its input lexicon.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from taskdistil.errors import ConfigError
from taskdistil.io import load_tensors, save_tensors


def svd_reduce(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """(V, H) -> (V, dim) with dim <= H."""
    vocab, hidden = weight.shape
    if dim > hidden:
        raise ConfigError(f"embedding_dim {dim} exceeds the teacher's hidden size {hidden}; SVD can only reduce")
    u, s, _ = torch.linalg.svd(weight.float(), full_matrices=False)
    return u[:, :dim] * s[:dim]


def teacher_input_embeddings(teacher_model) -> torch.Tensor:
    return teacher_model.get_input_embeddings().weight.detach()


@torch.no_grad()
def vocabulary_embeddings(teacher_model, vocab_size: int, prefix: list[int], suffix: list[int],
                          batch_size: int = 512) -> torch.Tensor:
    """(V, H): the mean of the teacher's top-layer states over ``prefix + [v] + suffix`` for each id v.

    Every sequence has the same length, so batches need no padding; batches run in id order in eval mode, so the
    result is deterministic. ``teacher_model``: a Hugging Face encoder (a task model's ``base_model`` is used).
    """
    from taskdistil.progress import progress

    encoder = getattr(teacher_model, "base_model", teacher_model)
    was_training = encoder.training
    encoder.eval()
    rows = []
    bar = progress(vocab_size, "model2vec table: vocabulary through the teacher", unit="token")
    try:
        for start in range(0, vocab_size, batch_size):
            ids = torch.arange(start, min(start + batch_size, vocab_size)).unsqueeze(1)  # (b, 1)
            ids = torch.cat([torch.tensor([prefix]).expand(len(ids), -1), ids,
                             torch.tensor([suffix]).expand(len(ids), -1)], dim=1).long()  # (b, L)
            states = encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state  # (b, L, H)
            rows.append(states.float().mean(dim=1))
            bar.update(len(ids))
    finally:
        bar.close()
        encoder.train(was_training)
    return torch.cat(rows)


def model2vec_table(teacher_model, tokenizer, dim: int, cache: Path | None = None) -> torch.Tensor:
    """(V, dim): each entry of the WordPiece ``tokenizer``'s vocabulary read as ``[CLS] v [SEP]`` (the special tokens
    it adds around a text) by the teacher, mean-pooled, reduced by PCA. ``cache``: a safetensors file that keeps the
    (V, H) states before PCA (read when it exists, else written), so that students of one teacher encode the
    vocabulary once; its name must identify the teacher."""
    if cache is not None and Path(cache).is_file():
        return pca_reduce(load_tensors(cache)["states"], dim)
    special = tokenizer.encode([""])[0]  # the ids around an empty text: [CLS] [SEP]
    states = vocabulary_embeddings(teacher_model, tokenizer.vocab_size, special[:1], special[1:])
    if cache is not None:
        save_tensors(cache, {"states": states}, metadata={"what": "model2vec-style vocabulary states before PCA",
                                                          "special_ids": str(special)})
    return pca_reduce(states, dim)


def pca_reduce(matrix: torch.Tensor, dim: int) -> torch.Tensor:
    """(V, H) -> (V, dim): the centred rows' coordinates on the top ``dim`` principal axes, each axis signed so
    that its largest coordinate is positive (the result does not depend on the SVD's sign choices)."""
    vocab, hidden = matrix.shape
    if dim > hidden:
        raise ConfigError(f"embedding_dim {dim} exceeds the teacher's hidden size {hidden}; PCA can only reduce")
    centred = matrix.double() - matrix.double().mean(dim=0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    coordinates = centred @ vt[:dim].T  # (V, dim)
    peak = coordinates.gather(0, coordinates.abs().argmax(dim=0, keepdim=True))  # (1, dim)
    return (coordinates * torch.sign(peak)).float()


class WordEmbeddings(nn.Embedding):
    """A lookup table that is tuned, frozen, or both (multichannel: Kim 2014, Tang et al. 2019).

    ``multichannel`` concatenates a frozen copy and a tuned copy of the same initial table,
    so words the transfer set never updates stay consistent with the frozen channel.
    Output (B, T, out_dim) with out_dim = dim, or 2 * dim for multichannel. Parameters:
    ``weight`` (V, dim) and, for multichannel, ``frozen_weight`` (V, dim). An ``nn.Embedding``, so that
    ``sparse`` (set by ``taskdistil.train.lazy_adam.LazyAdam``: the tuned table's gradient holds the rows the batch
    read) is seen by DistributedDataParallel too.
    """

    MODES = ("tuned", "frozen", "multichannel")

    def __init__(self, vocab_size: int, dim: int, pad_id: int, mode: str = "tuned"):
        if mode not in self.MODES:
            raise ConfigError(f"embedding mode {mode!r}; allowed: {self.MODES}")
        initial = torch.randn(vocab_size, dim)
        initial[pad_id] = 0.0
        super().__init__(vocab_size, dim, padding_idx=pad_id, _weight=initial, _freeze=mode == "frozen")
        self.mode = mode
        self.pad_id = pad_id
        self.frozen_weight = nn.Parameter(initial.clone(), requires_grad=False) if mode == "multichannel" else None
        self.out_dim = 2 * dim if mode == "multichannel" else dim

    @torch.no_grad()
    def initialize(self, matrix: torch.Tensor) -> None:
        """Copy ``matrix`` (V, dim) into every channel; the pad row stays zero."""
        for table in (self.weight, self.frozen_weight):
            if table is not None:
                table.copy_(matrix)
                table[self.pad_id].zero_()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        tuned = F.embedding(input_ids, self.weight, padding_idx=self.pad_id, sparse=self.sparse)  # (B, T, dim)
        if self.frozen_weight is None:
            return tuned
        return torch.cat([F.embedding(input_ids, self.frozen_weight), tuned], dim=-1)  # (B, T, 2 * dim)
