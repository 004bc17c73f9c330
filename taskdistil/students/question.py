"""The question-pooled token head of word-level students (``question: pooled``, question tagging).

A student reads a question and passage as one sequence ``[CLS] q [SEP] p [SEP]`` (``taskdistil.tasks.question_words``).
With ``question: inline`` (the default) its head reads each token's state h_t alone: a BiLSTM carries the question
into the passage's states through its recurrence, a CNN only within its filter widths. With ``question: pooled``
the head also reads the question's pooled state, the mean of the states of the tokens up to the first separator
(``[CLS] q [SEP]``: the ids tell where it is, ``taskdistil.data.pairs.segment_ids``), as

    x_t = [h_t, q, h_t * q]    (B, T, 3D)

so every passage token sees the whole question, whatever the encoder's reach (in the spirit of the query-aware
passage states of reading-comprehension models, e.g. the Attentive Reader, Hermann et al. 2015). Same inputs, same
ONNX signature.
"""

from __future__ import annotations

import torch

from taskdistil.data.pairs import segment_ids

QUESTION_MODES = ("inline", "pooled")


def head_dim(dim: int, question: str) -> int:
    """Width of what a token head reads: the state's, or three times it with the pooled question."""
    return 3 * dim if question == "pooled" else dim


def with_question(states: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  sep_id: int) -> torch.Tensor:
    """(B, T, D) token states -> (B, T, 3D): [h_t, q, h_t * q], q the mean state of ``[CLS] q [SEP]``."""
    in_question = ((segment_ids(input_ids, sep_id) == 0) & attention_mask.bool()).unsqueeze(-1).to(states.dtype)
    pooled = (states * in_question).sum(1) / in_question.sum(1).clamp(min=1.0)  # (B, D)
    pooled = pooled.unsqueeze(1).expand_as(states)  # (B, T, D)
    return torch.cat([states, pooled, states * pooled], dim=-1)
