"""Patient KD student (Sun et al. 2019): a k-layer BERT built from the teacher's own layers.

The student is a ``transformers`` ``BertModel`` holding copies of the teacher's embeddings, k of its
encoder layers (by default its first k, as in the paper), its pooler and its classifier:

    ids -> embeddings -> k BERT layers -> pooler (tanh(W h_[CLS] + b)) -> dropout -> linear -> logits

Besides the logits it returns the [CLS] state after each of its layers, which the Patient KD loss
matches to teacher layers. For a teacher of N layers, student layers 1..k-1 learn from (the top
layer is covered by the logits):

    PKD-Skip: teacher layers {N/k, 2N/k, ..., (k-1)N/k}   (12 -> 6: {2, 4, 6, 8, 10}; 6 -> 3: {2, 4})
    PKD-Last: teacher layers {N-k+1, ..., N-1}            (12 -> 6: {7, ..., 11};    6 -> 3: {4, 5})

(j*N/k is rounded down when k does not divide N.) ``transformers`` is imported when a model is
built, not with this module, so the student registry (and loading any saved student) stays light.
Sentence pairs are read as the teacher reads them: ``[CLS] a [SEP] b [SEP]``, token types derived from
the ids (``sep_id``; ``taskdistil.data.pairs``).

Token tagging (``head="token"``, from a token-classification teacher: no pooler): the classifier (the teacher's
token classifier, copied) reads every token's top-layer state, ``ids -> embeddings -> k layers -> dropout ->
linear``: logits (B, T, C), scored at each word's first sub-token. Its positions end at ``max_length``, so a longer
sentence is read in overlapping windows of words and rejoined as the teacher's are (``windowed``;
``taskdistil.tasks.words``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from taskdistil.data.pairs import segment_ids
from taskdistil.errors import ConfigError
from taskdistil.progress import log
from taskdistil.students.build import BuildContext
from taskdistil.students.layer_maps import bert_depth, student_layers
from taskdistil.students.output import StudentOutput

# The BertConfig fields that define the architecture (and dropout); a checkpoint's other settings are not kept.
BERT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
               "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id", "classifier_dropout")


@dataclass
class TransformerConfig:
    bert: dict  # Hugging Face BertConfig fields (BERT_FIELDS); num_hidden_layers = k
    num_labels: int
    pad_id: int = 0
    teacher_layers: list[int] = field(default_factory=list)  # 1-based teacher layer each student layer copies
    sep_id: int | None = None  # sentence pairs: token type 1 after the first separator (None: single sentences)
    head: str = "sequence"  # sequence: logits (B, C) of the pooler's output; token: logits (B, T, C) per token


class TransformerStudent(nn.Module):
    config_class = TransformerConfig
    kind = "transformer"
    heads = ("sequence", "token")  # the heads it has (``taskdistil.tasks.base.STUDENT_HEADS``)
    windowed = True  # reads at most max_length tokens: word-level reading in windows (``taskdistil.tasks.words``)

    def __init__(self, config: TransformerConfig):
        super().__init__()
        from transformers import BertConfig, BertModel

        self.config = config
        bert_config = BertConfig(**config.bert)
        self.bert = BertModel(bert_config, add_pooling_layer=config.head == "sequence")
        head_dropout = bert_config.classifier_dropout
        self.dropout = nn.Dropout(bert_config.hidden_dropout_prob if head_dropout is None else head_dropout)
        self.classifier = nn.Linear(bert_config.hidden_size, config.num_labels)

    @property
    def num_layers(self) -> int:
        return self.config.bert["num_hidden_layers"]

    def unfreeze_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups top to bottom, for gradual unfreezing: classifier and pooler, layers k..1, embeddings."""
        pooler = [] if self.bert.pooler is None else list(self.bert.pooler.parameters())
        top = [*self.classifier.parameters(), *pooler]
        layers = [list(layer.parameters()) for layer in reversed(self.bert.encoder.layer)]
        return [top, *layers, list(self.bert.embeddings.parameters())]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> StudentOutput:
        types = None if self.config.sep_id is None else segment_ids(input_ids, self.config.sep_id)
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=types,
                        output_hidden_states=True)
        # hidden_states: the embeddings' output, then each layer's, (B, T, H) each
        layer_cls = torch.stack([h[:, 0] for h in out.hidden_states[1:]], dim=1)  # (B, k, H)
        if self.config.head == "token":
            return StudentOutput(logits=self.classifier(self.dropout(out.last_hidden_state)),  # (B, T, C)
                                 layer_cls=layer_cls)
        pooled = out.pooler_output  # (B, H)
        return StudentOutput(logits=self.classifier(self.dropout(pooled)), pooled=pooled, layer_cls=layer_cls)

    @classmethod
    def build(cls, settings, context: BuildContext) -> "TransformerStudent":
        """From its settings and the teacher: ``settings.layers`` copied teacher layers (``init_layers``)."""
        teacher, tokenizer = context.teacher, context.tokenizer
        depth = bert_depth(teacher.model.config, f"teacher ({context.teacher_dir})")
        init, _ = student_layers(settings, depth)
        model = cls.from_teacher(teacher.model, init, pad_id=tokenizer.pad_id, hidden_dropout=settings.dropout,
                                 sep_id=teacher.sep_id, head=context.head)
        positions = model.config.bert["max_position_embeddings"]
        if tokenizer.max_length > positions:
            raise ConfigError(f"students.{settings.name}.max_length: {tokenizer.max_length} tokens, but the "
                              f"teacher's position embeddings cover {positions}")
        log(f"[distill:{settings.name}] {len(init)}-layer transformer from teacher layers {init} (of {depth})")
        return model

    @classmethod
    def from_teacher(cls, teacher_model: nn.Module, init_layers: list[int], pad_id: int | None = None,
                     hidden_dropout: float | None = None, sep_id: int | None = None,
                     head: str = "sequence") -> "TransformerStudent":
        """A student whose layer j is an exact copy of teacher layer ``init_layers[j]`` (1-based), with the
        teacher's embeddings, pooler and classifier. ``teacher_model``: a HF ``BertForSequenceClassification``
        (``head="token"``: ``BertForTokenClassification``, no pooler). ``hidden_dropout`` replaces the teacher's
        hidden dropout (attention dropout stays the teacher's); ``sep_id``: the teacher's separator, for pairs."""
        teacher_config = teacher_model.config
        depth = bert_depth(teacher_config, "teacher")
        if not init_layers or any(not 1 <= layer <= depth for layer in init_layers):
            raise ConfigError(f"student layers must copy teacher layers 1..{depth}, got {list(init_layers)}")
        base, classifier = teacher_model.base_model, getattr(teacher_model, "classifier", None)
        pooled = head == "sequence"
        if (pooled and getattr(base, "pooler", None) is None) or not isinstance(classifier, nn.Linear):
            raise ConfigError("a transformer student needs a teacher with a linear classifier and, for sequence "
                              "tasks, a BERT pooler (BertForSequenceClassification, BertForTokenClassification)")
        bert = {name: getattr(teacher_config, name) for name in BERT_FIELDS}
        bert["num_hidden_layers"] = len(init_layers)
        if hidden_dropout is not None:
            bert["hidden_dropout_prob"] = hidden_dropout
        if pad_id is None:
            pad_id = teacher_config.pad_token_id or 0
        model = cls(TransformerConfig(bert, teacher_config.num_labels, pad_id, list(init_layers), sep_id, head))
        # load_state_dict copies values: the student shares no storage with the teacher
        model.bert.embeddings.load_state_dict(base.embeddings.state_dict())
        for j, layer in enumerate(init_layers):
            model.bert.encoder.layer[j].load_state_dict(base.encoder.layer[layer - 1].state_dict())
        if pooled:
            model.bert.pooler.load_state_dict(base.pooler.state_dict())
        model.classifier.load_state_dict(classifier.state_dict())
        return model
