"""Atomic file writes: write to a temporary name beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` and rename ``tmp`` to ``path``: a crash never leaves a half-written ``path``.

    The temporary name keeps the target's suffix (``np.save`` and friends append one otherwise).
    """
    from .data.errors import DataError

    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a directory; give a file name")
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except PermissionError as exc:  # named by the target, not by the hidden temporary file
        raise DataError(path, f"cannot write here ({exc.strerror.lower()}): choose another place") from None
    except OSError as exc:
        if exc.errno is None or exc.filename not in (str(tmp), tmp, str(path), path):
            raise
        raise DataError(path, f"cannot write ({exc.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def check_writable(path: Path) -> None:
    """Refuse, before any work, a target that cannot be written: a directory where a file goes, or a place whose
    first existing ancestor this process may not write to."""
    from .data.errors import DataError

    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a directory; give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(path, f"cannot write here ({parent} is not writable): choose another place")
