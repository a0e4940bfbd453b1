"""Errors raised by the training loop (kept import-light for the CLI)."""


class TrainingError(RuntimeError):
    """A non-finite loss: names the term and the step."""
