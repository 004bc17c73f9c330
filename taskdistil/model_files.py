"""The file names of saved model directories (``taskdistil.artifact`` reads and writes them; the teacher's
modules write a teacher directory's). Plain constants, so that any layer may name them."""

STUDENT_FORMAT = "taskdistil-student"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TEACHER_META = "taskdistil.json"  # marks a teacher directory (HF files beside it)
TEACHER_TOKENIZER = "tokenizer.json"
