"""Tang et al. 2019 BiLSTM student: embeddings -> BiLSTM -> pooled state -> ReLU layer -> logits.

Default: one layer, 300-d embeddings, 150 units per direction, the last hidden state of
each direction (``pooling="last"``), a 200-unit ReLU layer. Options: more layers, max or
mean pooling over time. Sentence pairs (``pair``): siamese, the one BiLSTM reads each sentence and the
ReLU layer reads [h1, h2, h1 * h2, |h1 - h2|] (``taskdistil.students.pairs``). Token tagging (``head="token"``):
the same ReLU layer and classifier read every token's state (``token_states``, (B, T, 2H)): logits (B, T, C);
with ``question="pooled"`` (question tagging) each state beside the question's pooled state
(``taskdistil.students.question``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from taskdistil.pooling import masked_mean
from taskdistil.students.build import BuildContext, table_student
from taskdistil.students.crf import CRFTransitions
from taskdistil.students.embeddings import WordEmbeddings
from taskdistil.students.output import StudentOutput
from taskdistil.students.pairs import encode_example, feature_dim
from taskdistil.students.question import head_dim, with_question


@dataclass
class BiLSTMConfig:
    vocab_size: int
    num_labels: int
    pad_id: int = 0
    embedding_dim: int = 300
    embedding_mode: str = "tuned"  # tuned | frozen | multichannel
    hidden_size: int = 150
    num_layers: int = 1
    fc_dim: int = 200
    dropout: float = 0.1
    pooling: str = "last"  # last | max | mean
    pair: bool = False  # sentence pairs: siamese, inputs (2B, T): B first texts, then B second texts
    head: str = "sequence"  # sequence: logits (B, C) of the pooled state; token: logits (B, T, C) per token
    question: str = "inline"  # token head over [CLS] q [SEP] p [SEP]: "pooled" adds the question's mean state
    sep_id: int | None = None  # the separator after the question (question="pooled")
    crf: bool = False  # token head: CRF transition scores beside it (``taskdistil.students.crf``), Viterbi decoding


class BiLSTMStudent(nn.Module):
    config_class = BiLSTMConfig
    kind = "bilstm"
    heads = ("sequence", "token")  # the heads it has (``taskdistil.tasks.base.STUDENT_HEADS``)

    @classmethod
    def build(cls, settings, context: BuildContext) -> "BiLSTMStudent":
        """From its settings and the teacher: an embedding table of ``settings.embeddings``."""
        return table_student(cls, settings, context)

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.config = config
        self.embedding = WordEmbeddings(config.vocab_size, config.embedding_dim, config.pad_id,
                                        config.embedding_mode)
        self.lstm = nn.LSTM(self.embedding.out_dim, config.hidden_size, num_layers=config.num_layers,
                            batch_first=True, bidirectional=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        width = 2 * config.hidden_size
        self.fc = nn.Linear(head_dim(width, config.question) if config.head == "token" else
                            feature_dim(width, config.pair), config.fc_dim)
        self.classifier = nn.Linear(config.fc_dim, config.num_labels)
        self.crf = CRFTransitions(config.num_labels) if config.crf else None

    def unfreeze_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups top to bottom, for gradual unfreezing: classifier, fc, lstm, embedding (a CRF's scores
        with the classifier)."""
        groups = [list(module.parameters()) for module in (self.classifier, self.fc, self.lstm, self.embedding)]
        if self.crf is not None:
            groups[0] += list(self.crf.parameters())
        return groups

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> StudentOutput:
        if self.config.head == "token":
            states = self._with_question(self.token_states(input_ids, attention_mask), input_ids, attention_mask)
            return StudentOutput(logits=self._head(states))  # (B, T, C)
        pooled = encode_example(self._encode, self.config.pair, input_ids, attention_mask)  # (B, 2H), pairs (B, 8H)
        hidden = torch.relu(self.fc(self.dropout(pooled)))  # (B, fc_dim)
        return StudentOutput(logits=self.classifier(self.dropout(hidden)), pooled=pooled)

    def _with_question(self, states: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """(B, T, 2H) token states, or with ``question="pooled"`` (B, T, 6H): [h_t, q, h_t * q]."""
        if self.config.question != "pooled":
            return states
        return with_question(states, input_ids, attention_mask, self.config.sep_id)

    def _head(self, states: torch.Tensor) -> torch.Tensor:
        """(..., 2H) states -> (..., C) logits through the ReLU layer and the classifier."""
        return self.classifier(self.dropout(torch.relu(self.fc(self.dropout(states)))))

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> every token's state (B, T, 2H) (zeros past a sequence's end)."""
        lengths = attention_mask.sum(1).clamp(min=1)  # (B,)
        x = self.dropout(self.embedding(input_ids))  # (B, T, E)
        if bool((lengths == input_ids.shape[1]).all()):
            return self.lstm(x)[0]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.shape[1])[0]

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> the sentence vector (B, 2H)."""
        lengths = attention_mask.sum(1).clamp(min=1)  # (B,)
        x = self.dropout(self.embedding(input_ids))  # (B, T, E)
        full = bool((lengths == input_ids.shape[1]).all())
        if full:  # no padding (e.g. batch size 1): skip packing
            seq, (h_n, _) = self.lstm(x)  # seq (B, T, 2H)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_seq, (h_n, _) = self.lstm(packed)
            seq = None if self.config.pooling == "last" else pad_packed_sequence(
                packed_seq, batch_first=True, total_length=input_ids.shape[1])[0]
        if self.config.pooling == "last":
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H): forward and backward final states
        else:
            mask = attention_mask[:, : seq.shape[1]].unsqueeze(-1).bool()  # (B, T, 1)
            if self.config.pooling == "max":
                pooled = seq.masked_fill(~mask, float("-inf")).max(dim=1).values
            else:
                pooled = masked_mean(seq, attention_mask[:, : seq.shape[1]])
        return pooled

    def export_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Inference logits without packing or shape-dependent branches, for ONNX export.

        Equal to ``forward(...).logits`` in eval mode: each direction of each layer runs as a
        one-way LSTM with the layer's weights; the backward direction reads every sequence
        reversed within its own length, so padding (at the end) never reaches a valid state.
        """
        if self.config.head == "token":
            states = self._export_layers(input_ids, attention_mask)[0]  # (B, T, 2H)
            return self._head(self._with_question(states, input_ids, attention_mask))  # (B, T, C)
        pooled = encode_example(self._export_encode, self.config.pair, input_ids, attention_mask)
        return self.classifier(torch.relu(self.fc(pooled)))

    def _export_layers(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """The layers without packing: (token states (B, T, 2H), the top layer's forward states (B, T, H) and
        backward states in reversed order (B, T, H), lengths (B,))."""
        lengths = attention_mask.sum(1).clamp(min=1)  # (B,)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)  # (1, T)
        flipped = lengths.unsqueeze(1) - 1 - positions  # (B, T): position read by the reversed sequence
        reverse_index = torch.where(flipped >= 0, flipped, positions)  # padding stays where it is
        x = self.embedding(input_ids)  # (B, T, E)
        for layer in range(self.config.num_layers):
            forward_seq = _one_way_lstm(x, self.lstm, layer, "")  # (B, T, H)
            backward_rev = _one_way_lstm(_take(x, reverse_index), self.lstm, layer, "_reverse")  # reversed order
            x = torch.cat([forward_seq, _take(backward_rev, reverse_index)], dim=-1)  # (B, T, 2H)
        return x, forward_seq, backward_rev, lengths

    def _export_encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``_encode`` without packing: (B, T) ids and mask -> (B, 2H)."""
        x, forward_seq, backward_rev, lengths = self._export_layers(input_ids, attention_mask)
        last_index = (lengths - 1).view(-1, 1, 1)  # (B, 1, 1)
        if self.config.pooling == "last":
            h = self.config.hidden_size
            forward_last = forward_seq.gather(1, last_index.expand(-1, 1, h)).squeeze(1)  # (B, H)
            backward_last = backward_rev.gather(1, last_index.expand(-1, 1, h)).squeeze(1)  # (B, H)
            pooled = torch.cat([forward_last, backward_last], dim=-1)
        else:
            mask = attention_mask.unsqueeze(-1).bool()  # (B, T, 1)
            if self.config.pooling == "max":
                pooled = x.masked_fill(~mask, float("-inf")).max(dim=1).values
            else:
                pooled = masked_mean(x, attention_mask)
        return pooled


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x[b, index[b, t]] for every b, t: (B, T, D) gathered along time."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _one_way_lstm(x: torch.Tensor, lstm: nn.LSTM, layer: int, suffix: str) -> torch.Tensor:
    """One direction of one layer of a bidirectional ``nn.LSTM``, as a one-layer LSTM over x."""
    weights = [getattr(lstm, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    h0 = x.new_zeros(1, x.shape[0], lstm.hidden_size)
    # arguments: has biases, 1 layer, no dropout, not training, one way, batch first
    out, _, _ = torch.lstm(x, (h0, h0), weights, True, 1, 0.0, False, False, True)
    return out
