"""The pipeline: teacher -> annotate -> distill (each student) -> exam.

Each stage is keyed and kept by ``taskdistil.run_dir.Run``: a rerun skips a complete stage with the same key,
resumes an unfinished one and redoes one whose inputs changed.
"""

from __future__ import annotations

import time
from pathlib import Path

from taskdistil import distributed
from taskdistil.config import RunConfig, StudentConfig, dump_config
from taskdistil.devices import annotate_placement, check_devices, placement_keys
from taskdistil.errors import StageError
from taskdistil.io import atomic_write_text, read_json, sha256_file, sha256_json
from taskdistil.progress import log
from taskdistil.run_dir import Run, source_fingerprint
from taskdistil.student_config import representation_stages
from taskdistil.student_key import student_settings

STAGES = ("teacher", "transfer", "annotate", "distill", "export", "exam")



# -- stage definitions --------------------------------------------------------------------

def _prepare(config: RunConfig) -> Run:
    check_devices(config)  # an absent device fails before any work, naming its key
    _check_heads(config)
    run = Run(config)
    if distributed.is_main():
        run.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.dir / "config.yaml", dump_config(config))
    return run


def _check_heads(config: RunConfig) -> None:
    """A student kind without the head the task needs (a per-token head for tagging) fails before any work."""
    from taskdistil.students.registry import check_head
    from taskdistil.tasks import student_head, task_kind

    head = student_head(task_kind(config.data.task))
    for student in config.students:
        check_head(student.kind, head, f"students.{student.name}.kind")


def teacher_stage(run: Run, force: bool = False) -> dict:
    from taskdistil.tasks import load_task_data
    from taskdistil.teacher.finetune import prepare_teacher

    c = run.config
    key_inputs = {"teacher": c.teacher.key(placement_keys(c.teacher)), "seed": c.seed, "data": run.data_reading(),
                  "train": run.data_fingerprint("train"), "dev": run.data_fingerprint("dev")}
    if c.teacher.external:
        from taskdistil.teacher.external import prepare_external_teacher, source_fingerprint

        key_inputs["external"] = source_fingerprint(c)

    def body(stage_dir: Path) -> dict:
        data = load_task_data(c)
        if c.teacher.external:  # nothing to fine-tune: the students' tokenizer and embeddings, the labels
            return prepare_external_teacher(c, data.labels.labels, run.teacher_model_dir)
        return prepare_teacher(c, data, run.teacher_model_dir, stage_dir / "work")

    return run.stage("teacher", run.teacher_dir, key_inputs, body, force, every_rank=True)


def _teacher_fingerprint(run: Run) -> str:
    """The teacher's weights; an external teacher's taskdistil.json (its source's and embeddings' fingerprints)."""
    run.completed_key(run.teacher_dir)
    name = "taskdistil.json" if run.config.teacher.external else "model.safetensors"
    return sha256_file(run.teacher_model_dir / name)


def transfer_stage(run: Run, force: bool = False) -> dict:
    """The transfer set: labeled training text + unlabeled sources + augmentation (``taskdistil.transfer``)."""
    from taskdistil.tasks import load_task_data
    from taskdistil.transfer.build import build_transfer_set

    c = run.config
    # heldout only changes a set with unlabeled sources: the others keep their keys (and annotations)
    transfer = c.transfer.model_dump(mode="json", exclude=None if c.transfer.unlabeled else {"heldout"})
    key_inputs = {"transfer": transfer, "train": run.data_fingerprint("train"),
                  "data": run.data_reading()}
    if not c.transfer.is_default():
        key_inputs["seed"] = c.seed
        key_inputs["unlabeled"] = [source_fingerprint(c.data_source(s.path)) for s in c.transfer.unlabeled]
        if c.transfer.augment is not None and c.transfer.augment.pos_lexicon:
            key_inputs["pos_lexicon"] = source_fingerprint(c.data_file(c.transfer.augment.pos_lexicon))

    def body(stage_dir: Path) -> dict:
        data = load_task_data(c)
        summary = build_transfer_set(c, data.train, stage_dir, rest=getattr(data, "rest", None))
        log(f"[transfer] {summary['count']} examples: " + ", ".join(f"{v} {k}" for k, v in
                                                                    summary["by_origin"].items()))
        return {"count": summary["count"], "by_origin": summary["by_origin"]}

    return run.stage("transfer", run.transfer_dir, key_inputs, body, force)


def annotate_stage(run: Run, force: bool = False) -> dict:
    from taskdistil.teacher.annotate import annotate
    from taskdistil.teacher.model import Teacher
    from taskdistil.transfer.store import TransferSet

    c = run.config
    teacher_weights = _teacher_fingerprint(run)
    transfer_key = run.completed_key(run.transfer_dir)
    # The plain training set keeps the key it had before transfer sets existed, so those annotations stay valid.
    transfer = {"train": run.data_fingerprint("train")} if c.transfer.is_default() else {"set": transfer_key}
    key_inputs = {"teacher_weights": teacher_weights, "transfer": transfer,
                  "data": run.data_reading(), "shard_size": c.annotate.shard_size,
                  **c.annotate.model_dump(include={"precision"}, exclude=placement_keys(c.annotate))}
    layers = teacher_hidden_layers(run)
    if layers:  # only then: runs without Patient KD students keep their keys
        key_inputs["hidden_layers"] = layers

    if c.teacher.external:  # its outputs into the same cache, in one process
        from taskdistil.teacher.external import annotate_external

        def external(stage_dir: Path) -> dict:
            texts = TransferSet(run.transfer_dir)
            labels = read_json(run.teacher_model_dir / "taskdistil.json")["labels"]
            return annotate_external(c, labels, texts[:], stage_dir, c.annotate.shard_size, texts.where)

        return run.stage("annotate", run.annotate_dir, key_inputs, external, force, damage=_annotation_damage)

    def body(stage_dir: Path) -> dict:
        texts = TransferSet(run.transfer_dir)
        teacher = Teacher.load(run.teacher_model_dir)
        summary = annotate(teacher, texts, stage_dir, c.annotate.shard_size, c.annotate.batch_size,
                           texts.too_long(c.data.too_long), texts.where, layers=layers,
                           placement=annotate_placement(c), max_tokens=c.annotate.max_tokens,
                           overlap_words=c.data.window_overlap)
        warn_flat_states(summary.get("hidden_spread", {}))
        return summary

    return run.stage("annotate", run.annotate_dir, key_inputs, body, force,
                     damage=lambda stage_dir: _annotation_damage(stage_dir, layers), every_rank=True)


# Below this share of variance in its mean square a stored [CLS] state counts as constant (annotate warns).
FLAT_SPREAD = 1e-3


def warn_flat_states(spread: dict[str, float]) -> None:
    """Log a warning naming the stored teacher states (layer L: its [CLS] state; L:mean) that are (almost) one
    constant vector."""
    flat = {layer: value for layer, value in spread.items() if value < FLAT_SPREAD}
    if flat:
        log(f"[annotate] warning: the teacher's state hardly varies across examples at layer(s) "
            f"{', '.join(flat)} (variance / mean square: {', '.join(f'{v:.1e}' for v in flat.values())}); "
            "Patient KD and representation losses on it carry little signal; a representation stage can learn "
            "the mean of the layer's token states instead (teacher_pooling: mean; BENCHMARKS.md, \"Student zoo\")")


def teacher_hidden_layers(run: Run) -> list:
    """The teacher states the students need (``annotate.TeacherState`` names: layer L for its [CLS] state, "L:mean"),
    [] if none: the union of the students' Patient KD layers (their settings' ``patient_kd_layers``: [CLS] states)
    and the representation stages' ``teacher_layer``s (pooled by their ``teacher_pooling``).

    Every student's layer settings (``reads_teacher_layers``) and every representation stage's layer are checked
    against the teacher here, before any annotation, so an impossible layer fails early naming its key.
    """
    students = [s for s in run.config.students if s.reads_teacher_layers() or representation_stages(s)]
    if not students:
        return []
    from taskdistil.teacher.annotate import sorted_states, state_name

    config_path = run.teacher_model_dir / "config.json"
    config = read_json(config_path)
    layers: set = set()
    for student in students:
        layers.update(student.patient_kd_layers(config, f"teacher ({config_path})"))
        for key, stage in representation_stages(student):
            layers.add(state_name(stage.resolved_teacher_layer(int(config["num_hidden_layers"]), key),
                                  stage.teacher_pooling))
    return sorted_states(layers)


def _annotation_damage(stage_dir: Path, layers: list[int] | None = None) -> str | None:
    """Why the stored shards cannot be used (failed checksum, missing file, other layers), or None."""
    from taskdistil.errors import ArtifactError
    from taskdistil.teacher.annotate import HiddenStore
    from taskdistil.teacher.word_store import open_logit_store

    try:
        open_logit_store(stage_dir, verify=True)
        if layers:
            stored = HiddenStore(stage_dir, verify=True).layers
            if stored != layers:
                return f"hidden states of teacher layers {stored}, not {layers}"
    except (ArtifactError, OSError, ValueError) as err:
        return str(err)
    return None


def distill_stage(run: Run, student: StudentConfig, force: bool = False) -> dict:
    from taskdistil.distill import distill_student

    c = run.config
    # unset optional settings (seed: inherit the run's) leave keys of earlier runs as they were
    recipe = student_settings(student, omit_unset=("seed", "vectors"))
    key_inputs = {"student": recipe, "seed": c.seed,
                  "annotations": run.completed_key(run.annotate_dir),
                  "teacher_weights": _teacher_fingerprint(run), "dev": run.data_fingerprint("dev"),
                  "data": run.data_reading()}
    for key, path in student.input_files(c.data_file).items():  # word vectors, a local hf checkpoint: contents
        key_inputs[key] = _content_fingerprint(Path(path))

    def body(stage_dir: Path) -> dict:
        return distill_student(run, student, stage_dir)

    return run.stage(f"distill:{student.name}", run.student_dir(student.name), key_inputs, body, force,
                     every_rank=True)


def _content_fingerprint(path: Path) -> str:
    """A file's content hash; a directory's: the hash of its files' names and content hashes."""
    if not path.is_dir():
        return source_fingerprint(str(path))
    return sha256_json([(str(p.relative_to(path)), sha256_file(p)) for p in sorted(path.rglob("*")) if p.is_file()])


def export_stage(run: Run, name: str, force: bool = False) -> dict:
    """ONNX fp32 + int8 files beside a copy of the model ("teacher" or a student), parity-checked."""
    from taskdistil.export.package import export_model
    from taskdistil.tasks import load_task_data

    c = run.config
    source_stage, source_model = ((run.teacher_dir, run.teacher_model_dir) if name == "teacher"
                                  else (run.student_dir(name), run.student_model_dir(name)))
    key_inputs = {"model": run.completed_key(source_stage), "parity_texts": run.data_fingerprint("test"),
                  "data": run.data_reading()}

    def body(stage_dir: Path) -> dict:
        texts = load_task_data(c).test.texts[:PARITY_TEXTS]
        return export_model(source_model, run.export_dir(name), texts)

    return run.stage(f"export:{name}", run.export_stage_dir(name), key_inputs, body, force)


PARITY_TEXTS = 512


def exam_stage(run: Run, force: bool = False, budgets: dict | None = None) -> dict:
    """Measure (keyed: skipped when nothing changed), then write the report under the budgets."""
    from taskdistil.exam import run_exam
    from taskdistil.exam.fidelity import fidelity_key
    from taskdistil.exam.report import finalize_report

    c = run.config
    names = ["teacher"] * (not c.teacher.external) + [s.name for s in c.students]  # an external one has no export
    for name in names:
        export_stage(run, name, force)
    exports = {n: run.completed_key(run.export_stage_dir(n)) for n in names}
    key_inputs = {"exam": c.exam.measurement(), "exports": exports,
                  "groups": [student_settings(s, exclude=("name",)) for s in c.students],
                  "test": run.data_fingerprint("test"), "data": run.data_reading(), "fidelity": fidelity_key(run)}
    if c.teacher.external:
        key_inputs["external_teacher"] = {"teacher": _teacher_fingerprint(run), "latency_ms": c.teacher.latency_ms}
    manifest = run.stage("exam", run.exam_dir, key_inputs, lambda d: run_exam(run, d), force)
    if distributed.is_main():
        finalize_report(run, budgets or c.exam.budgets())
    return manifest


def run_all(config: RunConfig, force: bool = False) -> dict:
    run = _prepare(config)
    t0 = time.perf_counter()
    teacher_stage(run, force)
    transfer_stage(run, force)
    annotate_stage(run, force)
    for student in config.students:
        distill_stage(run, student, force)
    result = exam_stage(run, force)
    log(f"run finished in {time.perf_counter() - t0:.1f} s; report: {run.dir / 'report.md'}")
    return result


def run_one(config: RunConfig, stage: str, force: bool = False, student: str | None = None) -> dict:
    run = _prepare(config)
    if stage == "teacher":
        return teacher_stage(run, force)
    if stage == "transfer":
        return transfer_stage(run, force)
    if stage == "annotate":
        return annotate_stage(run, force)
    if stage == "distill":
        chosen = [s for s in config.students if student is None or s.name == student]
        if not chosen:
            raise StageError(f"no student named {student!r}; students: {[s.name for s in config.students]}")
        return {s.name: distill_stage(run, s, force) for s in chosen}
    if stage == "export":
        chosen = ["teacher"] * (not config.teacher.external)  # an external teacher has nothing to export
        chosen += [s.name for s in config.students if student is None or s.name == student]
        return {name: export_stage(run, name, force) for name in chosen}
    if stage == "exam":
        return exam_stage(run, force)
    raise StageError(f"unknown stage {stage!r}; stages: {STAGES}")
