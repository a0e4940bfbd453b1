"""The one error type for bad input, so the CLI can print it on one line without a traceback."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data: names the file and, where known, the line or id.

    Parameters
    ----------
    path : the offending file (or folder).
    message : what is wrong.
    line : 1-based line number in ``path``, when the problem sits on one line.
    """

    def __init__(self, path: str | Path | None, message: str, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.line = line
        self.message = message
        where = ""
        if self.path is not None:
            where = f"{self.path}: " if line is None else f"{self.path} line {line}: "
        super().__init__(f"{where}{message}")
