"""A student from any Hugging Face encoder checkpoint (kind ``hf``), e.g. BERT-Tiny/Mini/Small (Turc et al. 2019):

    ids -> the checkpoint's encoder (``AutoModel``: embeddings, k layers, its pooler if it has one)
        -> pooled state -> dropout -> linear -> logits

Token tagging (``head="token"``): the classifier reads every token's top-layer state instead, ``ids -> encoder ->
dropout -> linear``: logits (B, T, C), scored at each word's first sub-token (the checkpoint's own sub-tokens);
a sentence longer than ``max_length`` is read in overlapping windows of words (``windowed``;
``taskdistil.tasks.words``).

The pooled state is the pooler's output, else the [CLS] state (``pooling: cls``), or the mean of the top layer's
token states (``pooling: mean``: for checkpoints pre-trained as mean-pooled sentence encoders, such as the
embedded MiniLM-L6, whose [CLS] hardly varies between texts). ``layers: k`` keeps the checkpoint's first k layers
(embeddings and pooler included), as Patient KD initialises its students from the bottom of pre-trained BERT.

It has its own tokenizer (the checkpoint's fast tokenizer, saved into the student directory) and its own hidden
size H_s. Besides the logits it returns the [CLS] state after each of its k layers, which Patient KD (Sun et al.
2019) matches to teacher layers: student layers 1..k-1 to the teacher layers of ``layer_map``, by the transformer
student's rules ('skip', 'last' or a list: ``transformer.layer_map``); the top layer is covered by the logits.

Where H_s differs from the teacher's hidden size H_t, Patient KD goes through a learned linear projection
H_s -> H_t that the LOSS owns (``PatientLoss(student_dim, teacher_dim)``, one projection shared by the matched
layers): it trains beside the student in the logits stage and is not part of the saved student, so inference and
ONNX export never see it. Representation stages project the pooled state with ``RepresentationLoss``'s own
projection, as for every student.

The saved directory is self-contained: ``config.json`` holds the checkpoint's HF config dict (its architecture,
without the checkpoint's path), from which ``AutoConfig.for_model`` rebuilds the model with no hub access;
``model.safetensors`` the weights; ``tokenizer.json`` the tokenizer. Sentence pairs are encoded by the checkpoint's
own pair template (e.g. ``[CLS] a [SEP] b [SEP]``); where that template gives token types, ``sep_id`` derives them
from the ids (``taskdistil.data.pairs``). Only architectures built into
``transformers`` are accepted (``trust_remote_code`` stays off): a saved student must load without running
downloaded code. ``transformers`` is imported when a model is built, not with this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from taskdistil.data.pairs import segment_ids
from taskdistil.errors import ArtifactError, ConfigError
from taskdistil.hf_checkpoint import quiet_transformers
from taskdistil.pooling import masked_mean
from taskdistil.progress import log
from taskdistil.students.build import BuildContext
from taskdistil.students.hf_files import (
    _cannot_load,
    checkpoint_config,
    checkpoint_tokenizer,  # noqa: F401 (its home before hf_files)
    resolve_name,
)
from taskdistil.students.output import StudentOutput

# Keys of a checkpoint's config.to_dict() that are not architecture: where it was loaded from, which version
# wrote it, a fine-tuned head's labels (this student has its own head), its storage dtype (students train in fp32).
_NOT_ARCHITECTURE = ("transformers_version", "id2label", "label2id", "num_labels", "auto_map", "dtype", "torch_dtype",
                     "architectures", "finetuning_task", "problem_type")
_LAYER_INDEX = re.compile(r"\.(?:layer|layers|block|blocks)\.(\d+)\.")


@dataclass
class HFEncoderConfig:
    encoder: dict  # the checkpoint's HF config dict (``portable_config``): AutoConfig.for_model(**encoder)
    num_labels: int
    pad_id: int = 0
    dropout: float = 0.1  # before the classifier (the encoder keeps its checkpoint's dropout settings)
    sep_id: int | None = None  # sentence pairs with token types: type 1 after the first separator
    pooling: str = "cls"  # cls: the pooler's output, else the [CLS] state | mean: mean of the top layer's tokens
    head: str = "sequence"  # sequence: logits (B, C) of the pooled state; token: logits (B, T, C) per token


class HFEncoderStudent(nn.Module):
    config_class = HFEncoderConfig
    kind = "hf"
    heads = ("sequence", "token")  # the heads it has (``taskdistil.tasks.base.STUDENT_HEADS``)
    windowed = True  # reads at most max_length tokens: word-level reading in windows (``taskdistil.tasks.words``)

    def __init__(self, config: HFEncoderConfig):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        quiet_transformers()
        self.config = config
        hf_config = AutoConfig.for_model(**config.encoder)
        self.encoder = AutoModel.from_config(hf_config).float()  # weights: from_checkpoint or the saved student
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(hf_config.hidden_size, config.num_labels)

    @property
    def hidden_size(self) -> int:
        return self.encoder.config.hidden_size

    @property
    def num_layers(self) -> int:
        return self.encoder.config.num_hidden_layers

    @classmethod
    def build(cls, settings, context: BuildContext) -> "HFEncoderStudent":
        """From its settings: its checkpoint's first ``settings.layers`` layers under a fresh head."""
        key, tokenizer = f"students.{settings.name}.checkpoint", context.tokenizer
        model = cls.from_checkpoint(settings.checkpoint, len(context.teacher.labels), tokenizer.pad_id,
                                    settings.dropout, key, layers=settings.layers, pooling=settings.pooling,
                                    head=context.head)
        if tokenizer.pairs and getattr(model.encoder.config, "type_vocab_size", 0) > 1:  # pairs with token types
            try:
                model.config.sep_id = tokenizer.pair_separator()
            except ArtifactError as err:
                raise ConfigError(f"{key}: {err}") from None
        positions = getattr(model.encoder.config, "max_position_embeddings", None)
        if positions is not None and tokenizer.max_length > positions:
            raise ConfigError(f"students.{settings.name}.max_length: {tokenizer.max_length} tokens, but the "
                              f"checkpoint's position embeddings cover {positions}")
        log(f"[distill:{settings.name}] {model.num_layers}-layer {model.encoder.config.model_type} encoder (hidden "
            f"{model.hidden_size}) from {settings.checkpoint}")
        return model

    @classmethod
    def from_checkpoint(cls, name: str, num_labels: int, pad_id: int, dropout: float = 0.1,
                        key: str = "checkpoint", sep_id: int | None = None, layers: int | None = None,
                        pooling: str = "cls", head: str = "sequence") -> "HFEncoderStudent":
        """The checkpoint's encoder weights (a local directory, a hub name or ``embedded:minilm-l6``) under a fresh
        classification head; ``layers``: keep its first k layers only."""
        from transformers import AutoModel

        hf_config = checkpoint_config(name, key)
        if layers is not None:
            if layers > hf_config.num_hidden_layers:
                raise ConfigError(f"{key.rsplit('.', 1)[0]}.layers: {layers}, but the checkpoint {name} has "
                                  f"{hf_config.num_hidden_layers} layers")
            hf_config.num_hidden_layers = layers  # from_pretrained then leaves the layers above out
        try:
            pretrained = AutoModel.from_pretrained(resolve_name(name, key), config=hf_config, trust_remote_code=False,
                                                   dtype=torch.float32)
        except (OSError, ValueError) as err:
            raise ConfigError(_cannot_load(key, name, err)) from None
        model = cls(HFEncoderConfig(portable_config(pretrained.config), num_labels, pad_id, dropout, sep_id, pooling,
                                    head))
        model.encoder.load_state_dict(pretrained.state_dict())
        return model

    def unfreeze_groups(self) -> list[list[nn.Parameter]]:
        """Parameter groups top to bottom, for gradual unfreezing: the classifier with the encoder's parameters
        outside its layers and embeddings (pooler, final norm), then layers k..1, then the embeddings."""
        top, layers, bottom = list(self.classifier.parameters()), {}, []
        for name, param in self.encoder.named_parameters():
            index = _LAYER_INDEX.search(f".{name}")
            if index:
                layers.setdefault(int(index.group(1)), []).append(param)
            elif "embed" in name:
                bottom.append(param)
            else:
                top.append(param)
        return [top, *(layers[i] for i in sorted(layers, reverse=True)), bottom]

    def _inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.config.sep_id is not None:
            inputs["token_type_ids"] = segment_ids(input_ids, self.config.sep_id)
        return inputs

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> StudentOutput:
        out = self.encoder(**self._inputs(input_ids, attention_mask), output_hidden_states=True)
        # hidden_states: the embeddings' output, then each layer's, (B, T, H) each
        layer_cls = torch.stack([h[:, 0] for h in out.hidden_states[1:]], dim=1)  # (B, k, H)
        if self.config.head == "token":
            return StudentOutput(logits=self.classifier(self.dropout(out.last_hidden_state)),  # (B, T, C)
                                 layer_cls=layer_cls)
        pooled = _pooled(out, attention_mask, self.config.pooling)  # (B, H)
        return StudentOutput(logits=self.classifier(self.dropout(pooled)), pooled=pooled, layer_cls=layer_cls)

    def export_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Inference logits without the per-layer states (equal to ``forward(...).logits`` in eval mode)."""
        out = self.encoder(**self._inputs(input_ids, attention_mask))
        if self.config.head == "token":
            return self.classifier(out.last_hidden_state)  # (B, T, C)
        return self.classifier(_pooled(out, attention_mask, self.config.pooling))


def _pooled(out, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """cls: the encoder's pooler output if it has a pooler (BERT: tanh(W h_[CLS] + b)), else the [CLS] state;
    mean: sum_t m_t h_t / sum_t m_t over the top layer's states h_t (m: the attention mask)."""
    if pooling == "mean":
        return masked_mean(out.last_hidden_state, attention_mask)
    pooled = getattr(out, "pooler_output", None)
    return out.last_hidden_state[:, 0] if pooled is None else pooled


def portable_config(hf_config) -> dict:
    """A checkpoint's config as a JSON dict of its architecture: no path, version, labels or private keys."""
    return {k: v for k, v in hf_config.to_dict().items() if not k.startswith("_") and k not in _NOT_ARCHITECTURE}
