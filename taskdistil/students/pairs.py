"""The siamese pair head of word-level students (Tang et al. 2019, after InferSent: Conneau et al. 2017).

One shared encoder reads each sentence of a pair alone, giving h1 and h2 (B, D); the classifier reads

    [h1, h2, h1 * h2, |h1 - h2|]    (B, 4D)

The two products are symmetric in the sentences, h1 and h2 keep their order: swapping the sentences
swaps the first two blocks only.

Input layout: a siamese student takes the usual ``(input_ids, attention_mask)``, of shape (2B, T) for B
pairs: rows 0..B-1 hold the first texts, rows B..2B-1 the second texts (``taskdistil.train.batching.stacked``
pads them so). The encoder then runs once over both sides, and the ONNX graph keeps one input signature and
one LSTM/convolution node per layer whose weights dynamic int8 quantization can replace (two encoder calls
over shared weights broke onnxruntime's LSTM quantization).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def pair_features(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """(B, D), (B, D) -> (B, 4D): [h1, h2, h1 * h2, |h1 - h2|]."""
    return torch.cat([h1, h2, h1 * h2, (h1 - h2).abs()], dim=-1)


def feature_dim(dim: int, pair: bool) -> int:
    """Width of what the classifier reads: the sentence vector's, or four times it for pairs."""
    return 4 * dim if pair else dim


def encode_example(encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], pair: bool,
                   input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``encode(ids, mask)`` (B, D) of single sentences, or the pair features (B, 4D) of B pairs stacked as
    (2B, T) inputs (first texts, then second texts)."""
    pooled = encode(input_ids, attention_mask)  # (B, D), pairs (2B, D)
    if not pair:
        return pooled
    half = pooled.shape[0] // 2
    return pair_features(pooled[:half], pooled[half:])
