"""What produced a run: package version, git commit, command line, library versions, device, start time; and the
console output copied to ``log.txt`` (progress bars at their final state, not every refresh)."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO

PROVENANCE_FILE = "provenance.json"
LOG_FILE = "log.txt"
_command: list[str] | None = None


def set_command(argv: list[str]) -> None:
    """The command line to record (the CLI's, also when :func:`m2vae_pyro.cli.main` is called with a list)."""
    global _command
    _command = list(argv)


def _git_commit() -> dict[str, Any] | None:
    """The commit of the checkout the package was imported from (``None`` for an installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


_source: str | None = None


def source_hash() -> str:
    """A hash of the package's own source files (every ``.py`` under ``m2vae_pyro/``, by path and bytes): what an
    experiment cell records, so that a cell computed by other code is seen (as CellBender records its code)."""
    global _source
    if _source is None:
        import hashlib

        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
        _source = h.hexdigest()[:16]
    return _source


def provenance(device: str = "cpu", argv: list[str] | None = None) -> dict[str, Any]:
    import pyro
    import torch

    from . import __version__

    command = argv if argv is not None else _command if _command is not None else sys.argv
    return {"package": "m2vae-pyro", "version": __version__, "git": _git_commit(), "command": list(command),
            "python": platform.python_version(),
            "torch": torch.__version__, "pyro": pyro.__version__, "numpy": __import__("numpy").__version__,
            "device": device, "cuda": torch.version.cuda if torch.cuda.is_available() else None,
            "host": platform.node(), "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "source": source_hash()}


class _LogCopy:
    """A text stream that writes to ``stream`` and appends finished lines to ``log``; a ``\\r`` (a progress bar
    redrawing its line) replaces the pending line instead of adding one."""

    def __init__(self, stream: TextIO, log: TextIO):
        self.stream, self.log, self.pending = stream, log, ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        buf = self.pending + text
        *lines, self.pending = buf.split("\n")
        for line in lines:
            self.log.write(line.rsplit("\r", 1)[-1] + "\n")
        self.pending = self.pending.rsplit("\r", 1)[-1]
        self.log.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def close_pending(self) -> None:
        if self.pending.strip():
            self.log.write(self.pending + "\n")
        self.pending = ""

    def __getattr__(self, name: str):  # isatty, fileno, encoding … of the console stream
        return getattr(self.stream, name)


class ConsoleLog:
    """``with ConsoleLog(RUN / "log.txt"):`` copies stdout and stderr into the file (appending)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _LogCopy(sys.stdout, self.file), _LogCopy(sys.stderr, self.file)
        return self

    def __exit__(self, *exc):
        for stream in (sys.stdout, sys.stderr):
            stream.close_pending()
        sys.stdout, sys.stderr = self.saved
        self.file.close()
        return False
