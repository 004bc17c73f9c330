"""A student's settings as the pipeline's stage keys hold them (the distill stage's key, the exam's groups).

Settings added after runs existed are left out while unset, so that the keys of those runs stay as they were.
The keys were made when one settings class held every kind's keys: a key another kind has (a bilstm's
``filter_widths``, a transformer's ``tokenizer``) is still written, with that class's default (``SHARED_KEYS``).
"""

from __future__ import annotations

from taskdistil.student_config import StudentConfig

# Student settings added after runs existed: left out of stage keys while unset (None), so that the
# keys of those runs stay as they were. loss.pkd_weight likewise while 0.
ADDED_STUDENT_SETTINGS = ("layers", "init_layers", "layer_map", "recipe", "stages", "transfer_origins", "checkpoint",
                          "token_weights", "sif_a", "hidden_layer", "question", "bigram_buckets")
# Every kind's keys with the default they had when one class held them all (JSON values, as keys hold them).
SHARED_KEYS = {
    "layers": None, "init_layers": None, "layer_map": None, "checkpoint": None, "tokenizer": "wordpiece",
    "lowercase": True, "max_vocab": 50000, "min_freq": 1, "embeddings": "svd", "vectors": None, "embedding_dim": 300,
    "embedding_mode": "tuned", "hidden_size": 150, "num_layers": 1, "fc_dim": 200, "pooling": "last",
    "token_weights": None, "sif_a": None, "hidden_layer": None, "filter_widths": [3, 4, 5], "num_filters": 100,
    "question": None,
}


def student_settings(student: StudentConfig, omit_unset: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> dict:
    """A student's settings as a stage key holds them: ``exclude`` left out, and ``omit_unset`` and the
    added settings left out while they are None."""
    own = type(student).model_fields
    settings = {k: v for k, v in SHARED_KEYS.items() if k not in own}
    unset = [k for k in (*omit_unset, *ADDED_STUDENT_SETTINGS)
             if (getattr(student, k) if k in own else settings.get(k)) is None]
    spec: dict = dict.fromkeys((*exclude, *unset, "device"), True)  # a run moves between devices
    if not getattr(student, "crf", True):  # added after tagging runs existed (bilstm, cnn): left out while off
        spec["crf"] = True
    if not student.loss.pkd_weight:
        spec["loss"] = {"pkd_weight"}
    if student.stages and all(stage.teacher_pooling is None for stage in student.stages):
        spec["stages"] = {"__all__": {"teacher_pooling"}}  # added after multi-stage runs existed
    settings = {k: v for k, v in settings.items() if k not in spec}
    return {**settings, **student.model_dump(mode="json", exclude=spec)}
