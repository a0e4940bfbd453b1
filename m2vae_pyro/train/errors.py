"""Errors raised by the training loop (kept import-light for the CLI)."""


class TrainingError(RuntimeError):
    """A non-finite loss: names the term and the step."""


class Interrupted(RuntimeError):
    """Training stopped on request (SIGINT/SIGTERM) at a step boundary; the state was saved to resume."""

    def __init__(self, message: str, signal: int | None = None):
        super().__init__(message)
        self.signal = signal
