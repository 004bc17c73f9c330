"""Kim (2014) CNN student: embeddings -> parallel 1-D convolutions -> max over time -> logits.

Default: filter widths 3, 4, 5 with 100 filters each, ReLU, dropout 0.5 before the output
layer. Max pooling only looks at windows that start inside the text, so results do not
depend on how much padding a batch adds. Sentence pairs (``pair``): siamese, the one set of convolutions
reads each sentence and the output layer reads [h1, h2, h1 * h2, |h1 - h2|] (``taskdistil.students.pairs``).
Token tagging (``head="token"``): every token's state is its window features, the convolutions centred on it
(``token_states``: zero padding either side, (B, T, F * len(widths))); the output layer reads each: (B, T, C);
with ``question="pooled"`` (question tagging) each beside the question's pooled state
(``taskdistil.students.question``: a window alone does not reach the question).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from taskdistil.students.build import BuildContext, table_student
from taskdistil.students.crf import CRFTransitions
from taskdistil.students.embeddings import WordEmbeddings
from taskdistil.students.output import StudentOutput
from taskdistil.students.pairs import encode_example, feature_dim
from taskdistil.students.question import head_dim, with_question


@dataclass
class CNNConfig:
    vocab_size: int
    num_labels: int
    pad_id: int = 0
    embedding_dim: int = 300
    embedding_mode: str = "tuned"  # tuned | frozen | multichannel
    filter_widths: tuple[int, ...] = (3, 4, 5)
    num_filters: int = 100
    dropout: float = 0.5
    pair: bool = False  # sentence pairs: siamese, inputs (2B, T): B first texts, then B second texts
    head: str = "sequence"  # sequence: logits (B, C) of the pooled features; token: logits (B, T, C) per token
    question: str = "inline"  # token head over [CLS] q [SEP] p [SEP]: "pooled" adds the question's mean state
    sep_id: int | None = None  # the separator after the question (question="pooled")
    crf: bool = False  # token head: CRF transition scores beside it (``taskdistil.students.crf``), Viterbi decoding


class CNNStudent(nn.Module):
    config_class = CNNConfig
    kind = "cnn"
    heads = ("sequence", "token")  # the heads it has (``taskdistil.tasks.base.STUDENT_HEADS``)

    @classmethod
    def build(cls, settings, context: BuildContext) -> "CNNStudent":
        """From its settings and the teacher: an embedding table of ``settings.embeddings``."""
        return table_student(cls, settings, context)

    def __init__(self, config: CNNConfig):
        super().__init__()
        config.filter_widths = tuple(config.filter_widths)
        self.config = config
        self.embedding = WordEmbeddings(config.vocab_size, config.embedding_dim, config.pad_id,
                                        config.embedding_mode)
        self.convs = nn.ModuleList(nn.Conv1d(self.embedding.out_dim, config.num_filters, w)
                                   for w in config.filter_widths)
        self.dropout = nn.Dropout(config.dropout)
        width = config.num_filters * len(config.filter_widths)
        self.classifier = nn.Linear(head_dim(width, config.question) if config.head == "token" else
                                    feature_dim(width, config.pair), config.num_labels)
        self.crf = CRFTransitions(config.num_labels) if config.crf else None

    def unfreeze_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups top to bottom, for gradual unfreezing: classifier, convolutions, embedding (a CRF's scores
        with the classifier)."""
        groups = [list(module.parameters()) for module in (self.classifier, self.convs, self.embedding)]
        if self.crf is not None:
            groups[0] += list(self.crf.parameters())
        return groups

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> StudentOutput:
        if self.config.head == "token":
            states = self.token_states(input_ids, attention_mask)  # (B, T, F * len(widths))
            if self.config.question == "pooled":
                states = with_question(states, input_ids, attention_mask, self.config.sep_id)  # (B, T, 3 F W)
            return StudentOutput(logits=self.classifier(self.dropout(states)))  # (B, T, C)
        features = encode_example(self._encode, self.config.pair, input_ids, attention_mask)  # (B, F*W), pairs 4x
        return StudentOutput(logits=self.classifier(self.dropout(features)), pooled=features)

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> (B, T, F * len(widths)): each token's features from the windows centred on it
        (past the text: zero vectors, so a state does not depend on a batch's padding)."""
        x = (self.embedding(input_ids) * attention_mask.unsqueeze(-1).to(torch.float32)).transpose(1, 2)  # (B, E, T)
        states = [torch.relu(conv(F.pad(x, ((width - 1) // 2, width // 2))))  # (B, F, T)
                  for width, conv in zip(self.config.filter_widths, self.convs)]
        return torch.cat(states, dim=1).transpose(1, 2)

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask -> the sentence vector (B, F * len(widths))."""
        # widest - 1 pad ids at the end: every width has a window even for one token; windows
        # that start past the text are masked below, so the extra padding changes nothing
        # (and the graph has no shape-dependent branch, so it exports to ONNX as is).
        extra = max(self.config.filter_widths) - 1
        input_ids = F.pad(input_ids, (0, extra), value=self.config.pad_id)
        attention_mask = F.pad(attention_mask, (0, extra), value=0)
        lengths = attention_mask.sum(1)  # (B,)
        x = self.embedding(input_ids).transpose(1, 2)  # (B, E, T); pad rows of the table are zero
        pooled = []
        for width, conv in zip(self.config.filter_widths, self.convs):
            feature = torch.relu(conv(x))  # (B, F, T - w + 1)
            starts = torch.arange(feature.shape[2], device=feature.device)  # window start positions
            valid = starts.unsqueeze(0) < (lengths - width + 1).clamp(min=1).unsqueeze(1)  # (B, T - w + 1)
            pooled.append(feature.masked_fill(~valid.unsqueeze(1), float("-inf")).max(dim=2).values)  # (B, F)
        return torch.cat(pooled, dim=1)  # (B, F * len(widths))
