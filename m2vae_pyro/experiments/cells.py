"""The cells of an experiment directory: one result file per cell, and claims so that several processes can work
through one directory.

A process runs a cell only after creating ``seedK.lock`` beside the cell's result file with ``O_EXCL`` (atomic
on a local file system); the lock names the process (pid, host, and its start time where ``/proc`` tells it) and
is removed when the cell is written or the process stops. A lock left by a process that no longer runs on this
host is taken over — also when its pid now belongs to another process (a restarted machine keeps its host name
but reuses pids: the start time differs); one from another host is respected (its process cannot be checked from
here — delete the file if nothing runs it).

A trained model's cell also resumes *within* itself: :func:`fit_cell` writes the training loop's whole state to
``seedK.resume.pt`` at the end of every epoch (and every 10 minutes within a long one), so a cell killed any way
(SIGKILL, the OOM killer, a session's end) continues from its last epoch when the same command is run again.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runs import write_json
from ..train.errors import Interrupted


class CellsPending(Exception):
    """This process is done, but other processes still hold cells of the same experiment."""

    def __init__(self, n: int, by: list[str]):
        super().__init__(f"{n} cell(s) still running in other process(es) ({', '.join(by) or 'unknown'}); the "
                         "process that finishes the last cell writes the tables")
        self.n, self.by = n, by


Cell = tuple[Path, str, Callable[[], dict[str, Any]]]  # result file, progress label, the work


def resume_path(cell: Path) -> Path:
    return cell.with_suffix(".resume.pt")


def fit_cell(model, cell: Path, resume_other_code: bool = False) -> dict[str, Any]:
    """Fit ``model`` (M²VAE or a baseline, through the one training loop; an untrained reference as it is) for the
    cell ``cell``, resuming from the cell's resume state when there is one of this very code; returns what the cell
    records: the best epoch and its validation HR@5 (``History.summary``), and where a resumed cell started.

    ``resume_other_code``: resume a state that other code wrote too (``--resume-other-code``) — for a cell longer
    than a session (MVGAE on Amazon: ~5 core-hours) while the package changes elsewhere between sessions; the cell
    then records the source hash its first epochs ran under (``resumed_from_source``)."""
    if not hasattr(model, "trainer"):  # an untrained reference
        return model.fit(progress=False).summary()
    import torch

    from ..m2vae import atomic_torch_save
    from ..provenance import source_hash

    state_file = resume_path(cell)
    trainer = model.trainer(progress=False)
    before: dict[str, Any] = {}
    if state_file.is_file():
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        same_code = state.get("source") == source_hash()
        if same_code or resume_other_code:  # by default a state of other code is not resumed: the cell starts again
            trainer.load_state_dict(state["trainer"])
            before = {"resumed_at_epoch": trainer.epoch, "seconds_before_resume": state["seconds"]}
            if not same_code:
                before["resumed_from_source"] = state.get("source")
    t0 = time.perf_counter()

    def save() -> None:
        seconds = before.get("seconds_before_resume", 0.0) + time.perf_counter() - t0
        atomic_torch_save({"trainer": trainer.state_dict(), "source": source_hash(), "seconds": seconds}, state_file)

    model.history = trainer.run(checkpoint=save)
    return model.history.summary() | before  # run_cells removes the resume state once the cell's result is written


def run_cells(out: Path, cells: list[Cell], what: str, progress: bool = True, force_stale: bool = False) -> None:
    """Run every cell whose result file is missing and that no other process holds; write ``work()``'s dict
    (plus ``seconds`` and the package's ``source`` hash) atomically as its result.

    Finished cells computed by other code (another source hash, or none recorded) are reported in one warning line
    and kept — or, with ``force_stale``, run again. Raises :class:`CellsPending` when other processes still hold
    cells, :class:`Interrupted` on Ctrl-C (finished cells are kept, so the same command resumes).
    """
    from tqdm.auto import tqdm

    from ..provenance import source_hash

    stale = [c for c in cells if c[0].is_file() and _source_of(c[0]) != source_hash()]
    if stale and force_stale:
        for path, _, _ in stale:
            path.unlink(missing_ok=True)  # a package output, recomputed next (its replacement is this very run)
    elif stale:
        sources = ", ".join(sorted({_source_of(c[0]) or "none" for c in stale}))
        warnings.warn(f"{len(stale)} of {len(cells)} finished cells of {out} were computed by other code (source "
                      f"hash {sources}; this code is {source_hash()}); they are kept — --force-stale recomputes them",
                      stacklevel=2)
    todo = [c for c in cells if not c[0].is_file()]
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), disable=not progress, unit="cell")
    try:
        for path, label, work in todo:
            if path.is_file() or not claim(path):  # finished meanwhile, or running in another process
                continue
            try:
                bar.set_description(label)
                t0 = time.perf_counter()
                result = work()
                write_json(path, result | {"seconds": time.perf_counter() - t0, "source": source_hash()})
                resume_path(path).unlink(missing_ok=True)  # only now replaced: the result exists
            finally:
                release(path)
            bar.update(1)
    except KeyboardInterrupt:
        raise Interrupted(f"{what} interrupted; finished cells are kept in {out / 'cells'}: "
                          "run the same command again to resume") from None
    finally:
        bar.close()
    pending = [path for path, _, _ in cells if not path.is_file()]
    if pending:
        raise CellsPending(len(pending), holders(pending))


def _source_of(cell: Path) -> str | None:
    try:
        return json.loads(cell.read_text()).get("source")
    except (OSError, ValueError):
        return None


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
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid())}, f)
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
        pass  # alive (or an unreadable pid): the start time below decides when both are known
    recorded, now = owner.get("started"), _start_time(pid)
    if recorded is not None and now is not None:
        return recorded != now
    return False


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (``/proc/PID/stat`` field 22); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
