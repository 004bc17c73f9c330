"""Tang et al. 2019 BiLSTM student: embeddings -> BiLSTM -> pooled state -> ReLU layer -> logits.

Default: one layer, 300-d embeddings, 150 units per direction, the last hidden state of
each direction (``pooling="last"``), a 200-unit ReLU layer. Options: more layers, max or
mean pooling over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from taskdistil.students.embeddings import WordEmbeddings
from taskdistil.students.output import StudentOutput


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


class BiLSTMStudent(nn.Module):
    config_class = BiLSTMConfig
    kind = "bilstm"

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.config = config
        self.embedding = WordEmbeddings(config.vocab_size, config.embedding_dim, config.pad_id,
                                        config.embedding_mode)
        self.lstm = nn.LSTM(self.embedding.out_dim, config.hidden_size, num_layers=config.num_layers,
                            batch_first=True, bidirectional=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(2 * config.hidden_size, config.fc_dim)
        self.classifier = nn.Linear(config.fc_dim, config.num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> StudentOutput:
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
                pooled = (seq * mask).sum(1) / lengths.unsqueeze(-1)
        hidden = torch.relu(self.fc(self.dropout(pooled)))  # (B, fc_dim)
        return StudentOutput(logits=self.classifier(self.dropout(hidden)), pooled=pooled)
