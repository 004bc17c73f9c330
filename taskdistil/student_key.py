"""A student's settings as the pipeline's stage keys hold them (the distill stage's key, the exam's groups).

Settings added after runs existed are left out while unset, so that the keys of those runs stay as they were.
"""

from __future__ import annotations

from taskdistil.student_config import StudentConfig

# Student settings added after runs existed: left out of stage keys while unset (None), so that the
# keys of those runs stay as they were. loss.pkd_weight likewise while 0.
ADDED_STUDENT_SETTINGS = ("layers", "init_layers", "layer_map", "recipe", "stages", "transfer_origins", "checkpoint",
                          "token_weights", "sif_a", "hidden_layer")


def student_settings(student: StudentConfig, omit_unset: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> dict:
    """A student's settings as a stage key holds them: ``exclude`` left out, and ``omit_unset`` and the
    added settings left out while they are None."""
    unset = [k for k in (*omit_unset, *ADDED_STUDENT_SETTINGS) if getattr(student, k) is None]
    spec: dict = dict.fromkeys((*exclude, *unset, "device"), True)  # a run moves between devices
    if not student.loss.pkd_weight:
        spec["loss"] = {"pkd_weight"}
    if student.stages and all(stage.teacher_pooling is None for stage in student.stages):
        spec["stages"] = {"__all__": {"teacher_pooling"}}  # added after multi-stage runs existed
    return student.model_dump(mode="json", exclude=spec)

