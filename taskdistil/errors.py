"""The one exception family users see: each message names the file, line or key at fault."""


class TaskDistilError(Exception):
    """Base class: caught by the CLI and printed as one clear line (no traceback)."""


class ConfigError(TaskDistilError):
    """A wrong, unknown or missing configuration key or value."""


class DataError(TaskDistilError):
    """Malformed input data: the message names the file and line."""


class StageError(TaskDistilError):
    """A pipeline stage cannot run (e.g. its upstream stage has not finished)."""


class ArtifactError(TaskDistilError):
    """A saved model directory is missing or incomplete."""
