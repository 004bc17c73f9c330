"""Static-embedding student: a token table, weighted mean pooling, an optional hidden layer, a linear head.

No layer reads a token's neighbours, so a text costs a table lookup per token, one weighted sum and one or two small
matrix products: the fastest student (model2vec's kind of model, Tulkens & van Dongen 2024), here trained on the
teacher's logits over the transfer set like every other student. Per text of tokens x_1..x_T (padding masked out):

    h = sum_t w(x_t) e(x_t) / sum_t w(x_t)          (weighted mean of the token vectors; e: the table)
      [+ sum_t b(x_t, x_t+1) / (T - 1)]             (``bigram_buckets``: the mean of hashed bigram vectors)
    z = W_o relu(W_h h + b_h) + b_o                 (or z = W_o h + b_o without ``hidden_layer``)

Token weights w (``token_weights``): ``sif``, the smooth inverse frequency of Arora et al. 2017 (ICLR),
w(v) = a / (a + p(v)) with p(v) the token's relative frequency in the transfer set (fixed; tokens the transfer set
never holds get 1); ``learned``, the same start, then trained (stored as log w, so w stays positive); ``none``,
w = 1 (a plain mean). The table (``embeddings``) starts from the teacher: ``svd`` of its input embeddings
(``svd_reduce``) or ``model2vec`` (each vocabulary entry encoded by the teacher, PCA: ``vocabulary_embeddings``).
Bigrams (fastText's features, Joulin et al. 2017): each pair of adjacent tokens is hashed into one of
``bigram_buckets`` rows, (x_t * 1000003 + x_t+1) mod buckets, of a second table b that starts at zero, so training
starts from the unigram model; negation and the like ("not good") get a vector of their own.
Sentence pairs (``pair``): siamese, [h1, h2, h1 * h2, |h1 - h2|] (``taskdistil.students.pairs``).

The forward has no shape-dependent branch: it exports to ONNX as it is (Gather, Mul, ReduceSum, MatMul/Gemm; Slice
and integer Mul/Add/Mod for the bigram hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from taskdistil.students.build import BuildContext, table_student
from taskdistil.students.embeddings import WordEmbeddings
from taskdistil.students.output import StudentOutput
from taskdistil.students.pairs import encode_example, feature_dim
from taskdistil.students.static_config import DEFAULT_SIF_A, DEFAULT_TOKEN_WEIGHTS, TOKEN_WEIGHTS


@dataclass
class StaticConfig:
    vocab_size: int
    num_labels: int
    pad_id: int = 0
    embedding_dim: int = 256
    embedding_mode: str = "tuned"  # tuned | frozen | multichannel
    token_weights: str | None = None  # sif | learned | none (None: DEFAULT_TOKEN_WEIGHTS)
    sif_a: float | None = None  # None: DEFAULT_SIF_A
    hidden_layer: int | None = None  # units of the ReLU layer before the head; None: no hidden layer
    dropout: float = 0.1
    pair: bool = False  # sentence pairs: siamese, inputs (2B, T): B first texts, then B second texts
    bigram_buckets: int | None = None  # rows of the hashed bigram table; None: no bigrams

    def __post_init__(self):
        self.token_weights = self.token_weights or DEFAULT_TOKEN_WEIGHTS
        self.sif_a = DEFAULT_SIF_A if self.sif_a is None else self.sif_a
        if self.token_weights not in TOKEN_WEIGHTS:
            raise ValueError(f"token_weights {self.token_weights!r}; allowed: {TOKEN_WEIGHTS}")


class StaticStudent(nn.Module):
    config_class = StaticConfig
    kind = "static"
    heads = ("sequence",)  # the heads it has (``taskdistil.tasks.base.STUDENT_HEADS``)

    @classmethod
    def build(cls, settings, context: BuildContext) -> "StaticStudent":
        """From its settings and the teacher: an embedding table of ``settings.embeddings``."""
        return table_student(cls, settings, context)

    def __init__(self, config: StaticConfig):
        super().__init__()
        self.config = config
        self.embedding = WordEmbeddings(config.vocab_size, config.embedding_dim, config.pad_id, config.embedding_mode)
        # log w per token (V, 1): an nn.Embedding so that lazy Adam updates only the rows a batch reads
        self.log_weight = nn.Embedding(config.vocab_size, 1, _weight=torch.zeros(config.vocab_size, 1),
                                       _freeze=config.token_weights != "learned")
        # hashed bigrams (K, E), zero at the start: the unigram model's output until training moves them
        self.bigrams = (nn.Embedding(config.bigram_buckets, self.embedding.out_dim,
                                     _weight=torch.zeros(config.bigram_buckets, self.embedding.out_dim))
                        if config.bigram_buckets else None)
        width = feature_dim(self.embedding.out_dim, config.pair)
        self.hidden = nn.Linear(width, config.hidden_layer) if config.hidden_layer else None
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden_layer or width, config.num_labels)

    @torch.no_grad()
    def set_token_frequencies(self, counts: np.ndarray) -> None:
        """Token weights from token counts (V,) of the transfer set: SIF a / (a + p(v)); ``none`` keeps w = 1."""
        if self.config.token_weights != "none":
            self.log_weight.weight.copy_(torch.log(sif_weights(counts, self.config.sif_a)).unsqueeze(1))

    def from_transfer_set(self, encoded: Sequence) -> None:
        """The hook ``distill`` calls with the encoded transfer set before training: the SIF weights."""
        self.set_token_frequencies(token_counts(encoded, self.config.vocab_size))

    def token_weight(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T) weights w(x_t) > 0."""
        return self.log_weight(input_ids).squeeze(-1).exp()

    def unfreeze_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups top to bottom, for gradual unfreezing: head (and hidden layer), token weights, table."""
        head = [*self.classifier.parameters(), *(self.hidden.parameters() if self.hidden is not None else [])]
        tables = [*self.embedding.parameters(), *(self.bigrams.parameters() if self.bigrams is not None else [])]
        return [head, list(self.log_weight.parameters()), tables]

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> the weighted mean of the token vectors (B, E)."""
        weights = self.token_weight(input_ids) * attention_mask.to(torch.float32)  # (B, T), padding 0
        total = weights.sum(dim=1, keepdim=True).clamp(min=1e-12)  # (B, 1)
        vectors = self.embedding(input_ids)  # (B, T, E)
        pooled = torch.bmm((weights / total).unsqueeze(1), vectors).squeeze(1)  # (B, E)
        if self.bigrams is None:
            return pooled
        pair_mask = (attention_mask[:, 1:] * attention_mask[:, :-1]).to(torch.float32)  # (B, T-1)
        pair_ids = bigram_ids(input_ids, self.config.bigram_buckets)  # (B, T-1)
        pair_share = pair_mask / pair_mask.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, T-1); no pair: 0
        return pooled + torch.bmm(pair_share.unsqueeze(1), self.bigrams(pair_ids)).squeeze(1)  # (B, E)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> StudentOutput:
        pooled = encode_example(self._encode, self.config.pair, input_ids, attention_mask)  # (B, E), pairs (B, 4E)
        features = self.dropout(pooled)
        if self.hidden is not None:
            features = self.dropout(torch.relu(self.hidden(features)))  # (B, hidden_layer)
        return StudentOutput(logits=self.classifier(features), pooled=pooled)


def bigram_ids(input_ids: torch.Tensor, buckets: int) -> torch.Tensor:
    """(B, T) token ids -> (B, T-1) bucket of each adjacent pair: (x_t * 1000003 + x_t+1) mod ``buckets``."""
    ids = input_ids.to(torch.int64)
    return torch.remainder(ids[:, :-1] * 1000003 + ids[:, 1:], buckets)


def token_counts(encoded: Sequence, vocab_size: int) -> np.ndarray:
    """(V,) occurrences of each id in encoded texts (id lists, or tuples of them for sentence pairs)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    chunk: list[int] = []
    for example in encoded:
        for ids in (example if isinstance(example, tuple) else (example,)):
            chunk.extend(ids)
        if len(chunk) > 1_000_000:
            counts += np.bincount(np.asarray(chunk), minlength=vocab_size)
            chunk = []
    if chunk:
        counts += np.bincount(np.asarray(chunk), minlength=vocab_size)
    return counts


def sif_weights(counts: np.ndarray, a: float) -> torch.Tensor:
    """(V,) SIF weights a / (a + p(v)), p(v) = counts[v] / sum(counts) (Arora et al. 2017); all 1 if no counts."""
    counts = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
    p = counts / counts.sum().clamp(min=1.0)
    return (a / (a + p)).float()
