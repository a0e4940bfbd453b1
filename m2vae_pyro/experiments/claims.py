"""Claims on experiment cells, so that several processes can work through one experiment directory.

A process runs a cell only after creating ``seedK.lock`` beside the cell's result file with ``O_EXCL`` (atomic
on a local file system); the lock names the process (pid, host) and is removed when the cell is written or the
process stops. A lock left by a process that no longer runs on this host is taken over; one from another host
is respected (its process cannot be checked from here — delete the file if nothing runs it).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path


def lock_path(cell: Path) -> Path:
    return cell.with_suffix(".lock")


def claim(cell: Path) -> bool:
    """Try to take ``cell`` for this process; False when a live process holds it."""
    lock = lock_path(cell)
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # a second try after removing a stale lock
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if not _stale(lock):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
        return True
    return False


def release(cell: Path) -> None:
    lock_path(cell).unlink(missing_ok=True)


def holders(cells: list[Path]) -> list[str]:
    """``"pid@host"`` of the processes holding any of ``cells``, for messages."""
    out = []
    for cell in cells:
        try:
            owner = json.loads(lock_path(cell).read_text())
            out.append(f"{owner['pid']}@{owner['host']}")
        except (OSError, ValueError, KeyError):
            continue
    return sorted(set(out))


def _stale(lock: Path) -> bool:
    try:
        owner = json.loads(lock.read_text())
    except (OSError, ValueError):
        return False  # being written at this moment, or unreadable: leave it to its owner
    if owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if pid == os.getpid():
        return True  # cells run one after another in a process: a lock of ours is a leftover
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, TypeError):
        return False
    return False
