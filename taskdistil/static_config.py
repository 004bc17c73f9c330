"""The static-embedding student's settings: their defaults and the rules ``StudentConfig`` checks.

Kept beside ``taskdistil.config`` (which calls ``check_static_settings``) so that the config module does not grow;
it imports nothing of taskdistil, and ``taskdistil.students.static`` reads its defaults from here.
"""

from __future__ import annotations

from typing import Any

STATIC_KIND = "static"
TOKEN_WEIGHTS = ("sif", "learned", "none")
DEFAULT_TOKEN_WEIGHTS = "sif"
DEFAULT_SIF_A = 1e-3  # Arora et al. 2017: a in 1e-4..1e-3 works well
# Settings only a static student takes (None: unset; every other kind must leave them so).
STATIC_SETTINGS = ("token_weights", "sif_a", "hidden_layer")
# Table initialisations that read the teacher's WordPiece vocabulary.
TEACHER_TABLES = ("svd", "model2vec")


def check_static_settings(student: Any) -> None:
    """ValueError naming the key: a static-only setting on another kind, or a static setting that cannot apply."""
    if student.kind != STATIC_KIND:
        given = [key for key in STATIC_SETTINGS if getattr(student, key) is not None]
        if given:
            raise ValueError(f"{given[0]} is a setting of kind 'static' students (this one is {student.kind!r})")
        return
    if student.sif_a is not None and student.token_weights == "none":
        raise ValueError("sif_a sets the SIF weights a / (a + p(w)): it needs token_weights 'sif' or 'learned' "
                         "(this student has token_weights 'none')")
