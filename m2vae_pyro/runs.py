"""Run directories: ``train`` writes config, split, best checkpoint, loss history and curves; ``evaluate`` metrics.

Layout of ``RUN/``: ``config.json`` (dataset, data dir, every hyper-parameter), ``provenance.json`` (package version,
git commit, command line, library versions, device, start time; one more entry per resume), ``log.txt`` (the console
output), ``split.csv``, ``checkpoint.pt`` (best validation state), ``history.csv``, ``curves.png``, ``train.json``,
``metrics.json``; ``resume.pt`` while an interrupted run waits to be resumed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .atomic import atomic_write, check_writable
from .baselines.reference import REFERENCES
from .config import Config, config_from_dict
from .data.dataset import Dataset, warn_items_without_content
from .data.errors import DataError
from .data.loaders import load_dataset
from .data.split import load_split
from .evaluation.protocols import evaluate
from .m2vae import M2VAE, atomic_torch_save
from .provenance import LOG_FILE, PROVENANCE_FILE, ConsoleLog, provenance
from .train.errors import Interrupted, TrainingError
from .train.trainer import rank_and_world

RESUME_FILE = "resume.pt"


def write_json(path: Path, obj: Any) -> None:
    """Atomic: a crash never leaves a half-written file."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n"))


# Everything `train` and `evaluate` write into a run directory, and what `analyze` writes into RUN/analysis/: what a
# `--force` rerun replaces. Any other file — in the directory or in analysis/ — is the user's and stays.
RUN_OUTPUTS = ("config.json", "split.csv", "checkpoint.pt", "history.csv", "curves.png", "train.json", "metrics.json",
               RESUME_FILE, PROVENANCE_FILE, LOG_FILE)
ANALYSIS_OUTPUTS = ("posterior.nc", "summary.csv", "summary_items.csv", "pareto_k.csv", "calibration_items.csv",
                    "report.md", "uncertainty_popularity.png", "uncertainty_error.png", "user_scores.png",
                    "views_pca.png", "gates.png")
# a --force rerun trains here, beside the old run, which it replaces only once it has a checkpoint
PARTIAL_SUFFIX = ".partial"
REPLACES_FILE = "replaces.json"


class OutputsFailed(DataError):
    """Training finished, but writing its outputs failed: the run keeps the trained state, and ``m2vae train
    --resume RUN`` writes the outputs again (the epochs are not lost to a failure in, say, the curves' plot)."""


def prepare_run_dir(out: Path, force: bool) -> Path:
    """Check that ``out`` may hold a new run; returns the directory to train into: ``out`` itself when it is new or
    empty, else (``force``) ``OUT.partial`` beside it, which replaces the old run's outputs when training ends
    (:func:`replace_run`). Nothing of the old run is touched here."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "run directory path exists and is a file")
    check_writable(out / "config.json")
    if not (out.exists() and any(out.iterdir())):
        return out
    if not force:
        raise DataError(out, "run directory exists and is not empty; choose another --out or pass --force")
    build = out.with_name(out.name + PARTIAL_SUFFIX)
    if build.exists():
        if not (build / REPLACES_FILE).is_file():
            raise DataError(build, "exists and is not a partial rerun of this package's; move it away first")
        shutil.rmtree(build)  # an earlier forced rerun that never finished: its own scratch directory
    return build


def replace_run(build: Path) -> Path:
    """Move a finished forced rerun from ``build`` into the run directory it replaces; returns that directory.

    The old run's outputs (``RUN_OUTPUTS``, ``ANALYSIS_OUTPUTS``) are moved aside first and deleted only after the
    new ones are in place; files the package did not write stay where they are.
    """
    target = Path(json.loads((build / REPLACES_FILE).read_text())["target"])
    aside = target.with_name(f".{target.name}.replaced")
    shutil.rmtree(aside, ignore_errors=True)
    (aside / "analysis").mkdir(parents=True)
    for name in RUN_OUTPUTS:
        if (target / name).exists():
            (target / name).rename(aside / name)
    for name in ANALYSIS_OUTPUTS:
        if (target / "analysis" / name).exists():
            (target / "analysis" / name).rename(aside / "analysis" / name)
    with contextlib.suppress(OSError):
        (target / "analysis").rmdir()  # only when nothing of the user's is left in it
    for item in build.iterdir():
        if item.name != REPLACES_FILE:
            item.rename(target / item.name)
    shutil.rmtree(build)
    shutil.rmtree(aside, ignore_errors=True)
    return target


def is_main_process() -> bool:
    """Rank 0 of a ``torch.distributed`` job, or the only process: the one that writes files."""
    return rank_and_world()[0] == 0


def _distributed() -> bool:
    return rank_and_world()[1] > 1


def train_run(dataset: str, data_dir: Path | None, out: Path, config: Config, force: bool = False,
              progress: bool = True, stop_at_step: int | None = None, device: str = "cpu",
              announce: Callable[[], None] | None = None) -> M2VAE:
    """Train a new run into ``out`` (see the module docstring for what it writes).

    Nothing is written before the data and the config have loaded; a run that then fails with an error removes the
    directory it created (an interrupted one keeps it, with its resume state, written at every epoch's end too). Over
    an existing run (``force``) it trains in ``OUT.partial`` and replaces the old outputs only once it has finished
    (:func:`replace_run`): a failed or interrupted rerun leaves the old run as it was. ``announce`` prints at the
    start, into ``log.txt`` too. Under ``torch.distributed`` every rank trains on its shard of the triples; only rank 0
    writes.
    """
    from .data.folder import is_folder_dataset

    if is_folder_dataset(dataset):  # a folder of the user's: recorded by its absolute path, as the data dir is
        dataset = str(Path(dataset).resolve())
    build = prepare_run_dir(out, force)  # every rank checks, before any rank writes
    if _distributed():
        torch.distributed.barrier()
    ds = load_dataset(dataset, data_dir, images=True, progress=progress and is_main_process())
    if is_main_process():
        warn_items_without_content(ds)
    model = M2VAE(ds, config, device=device)
    main = is_main_process()
    created = not build.exists()
    if main:
        build.mkdir(parents=True, exist_ok=True)
        if build != out:
            write_json(build / REPLACES_FILE, {"target": str(out.resolve())})
    try:
        with ConsoleLog(build / LOG_FILE) if main else contextlib.nullcontext():
            if main:
                write_json(build / PROVENANCE_FILE, provenance(device))
                data_dir = str(Path(data_dir).resolve()) if data_dir else None
                meta = {"dataset": dataset, "data_dir": data_dir, "config": config.to_dict()}
                write_json(build / "config.json", meta)
                model.split.save(build / "split.csv", ds)
                if announce is not None:
                    announce()
            model = _train(model, build, None, progress, stop_at_step)
    except Interrupted as exc:
        if main and build != out:
            raise Interrupted(f"{exc}. The previous run in {out} is untouched; this one replaces it when it "
                              f"finishes: m2vae train --resume {build}", signal=exc.signal) from None
        raise
    except OutputsFailed:
        raise  # training finished: the run stays, to be resumed (an old run it would replace stays too)
    except TrainingError as exc:  # a non-finite loss after some epochs: their best checkpoint is worth keeping
        checkpoint = build / "checkpoint.pt"
        if main and checkpoint.is_file():
            raise TrainingError(f"{exc}: {checkpoint}") from None
        if main and created:
            shutil.rmtree(build, ignore_errors=True)
        raise
    except Exception:
        if main and created:
            shutil.rmtree(build, ignore_errors=True)  # a failed run leaves nothing; an old run it would replace stays
        raise
    if main and build != out:
        replace_run(build)
    return model


def resume_run(run: Path, data_dir: Path | None = None, progress: bool = True,
               stop_at_step: int | None = None, device: str | None = None) -> M2VAE:
    """Continue an interrupted run from ``RUN/resume.pt``, exactly where it stopped, on the device it was started
    on (``provenance.json``) unless ``device`` says otherwise."""
    state_path = run / RESUME_FILE
    if not state_path.is_file():
        done = (run / "train.json").is_file()
        raise DataError(state_path, "run already finished: nothing to resume" if done
                        else "no resume state in this run directory")
    meta = _read_meta(run)
    ds = _recorded_dataset(meta, data_dir, progress)
    config = config_from_dict(meta["config"])
    record = json.loads((run / PROVENANCE_FILE).read_text()) if (run / PROVENANCE_FILE).is_file() else {}
    device = device or (record.get("resumed") or [record])[-1].get("device", "cpu")
    model = M2VAE(ds, config, load_split(run / "split.csv", ds), device=device)
    state = torch.load(state_path, map_location="cpu", weights_only=False)
    # the device is where a run trains, not what it trains: a run resumed elsewhere is the same run
    changed = {k for k in set(state["config"]) | set(meta["config"])
               if k != "device" and state["config"].get(k) != meta["config"].get(k)}
    if changed:
        raise DataError(run / "config.json", "config differs from the interrupted run's in: " + ", ".join(
            f"{k} ({state['config'].get(k)!r} → {meta['config'].get(k)!r})" for k in sorted(changed)))
    if state.get("dataset") != ds.name or state.get("n_items") != ds.n_items or state.get("n_users") != ds.n_users:
        raise DataError(state_path, f"resume state is for {state.get('dataset')} ({state.get('n_users')} users, "
                                    f"{state.get('n_items')} items), not {ds.name} ({ds.n_users}, {ds.n_items})")
    with ConsoleLog(run / LOG_FILE):
        record.setdefault("resumed", []).append(provenance(device))
        write_json(run / PROVENANCE_FILE, record)
        model = _train(model, run, state["trainer"], progress, stop_at_step)
    if (run / REPLACES_FILE).is_file():  # a forced rerun, finished: it now replaces the run it was started over
        replace_run(run)
    return model


def _train(model: M2VAE, out: Path, trainer_state: dict | None, progress: bool, stop_at_step: int | None) -> M2VAE:
    main = is_main_process()
    trainer = model.trainer(progress=progress, on_improve=lambda h: model.save(out / "checkpoint.pt") if main else None)
    if trainer_state is not None:
        trainer.load_state_dict(trainer_state)

    def save_resume_point() -> None:
        """The whole trainer state, atomically: a run killed any way (SIGKILL, the OOM killer) resumes from here."""
        state = {"trainer": trainer.state_dict(), "dataset": model.ds.name, "n_users": model.ds.n_users,
                 "n_items": model.ds.n_items, "config": model.config.to_dict()}
        atomic_torch_save(state, out / RESUME_FILE)

    t0 = time.perf_counter()
    if _distributed():
        # Ranks cannot agree on a stopping step without a collective per step; a distributed run is not
        # resumable and a signal ends every rank (torchrun forwards it).
        model.history = trainer.run()
        if main:
            _write_outputs(model, out, t0, world_size=trainer.world)
        return model
    signals = _StopOnSignal()
    try:
        with signals:
            model.history = trainer.run(
                should_stop=lambda: signals.received is not None
                or (stop_at_step is not None and trainer.step >= stop_at_step),
                checkpoint=save_resume_point)
    except Interrupted as exc:
        save_resume_point()
        raise Interrupted(f"{exc}; state saved to {out / RESUME_FILE}. Resume with: m2vae train --resume {out}",
                          signal=signals.received) from None
    try:
        _write_outputs(model, out, t0)
    except Exception as exc:  # the epochs are paid for: keep the trained state, from which a resume writes these again
        save_resume_point()
        raise OutputsFailed(out, f"training finished, but writing its outputs failed ({type(exc).__name__}: {exc}); "
                                 f"the trained state is kept: m2vae train --resume {out} writes them") from exc
    (out / RESUME_FILE).unlink(missing_ok=True)
    return model


def _write_outputs(model: M2VAE, out: Path, t0: float, world_size: int = 1) -> None:
    model.save(out / "checkpoint.pt")  # the best state (run() restores it), also when validation never improved
    frame = pd.DataFrame(model.history.rows)
    frame.to_csv(out / "history.csv", index=False)
    from .analysis.curves import plot_training_curves

    cfg = model.config
    references = {name: evaluate(REFERENCES[name](model.ds, model.split), model.ds, model.split, "validation",
                                 (5,))["hr@5"] for name in ("content_activity", "userpop")}
    plot_training_curves(frame, out / "curves.png", best_epoch=model.history.best_epoch, references=references,
                         title=f"{model.ds.name} · seed {cfg.seed} · preset {cfg.preset}"
                               + ("" if cfg.variant == "full" else f" · {cfg.variant}"))
    write_json(out / "train.json", {"seconds": time.perf_counter() - t0, "best_epoch": model.history.best_epoch,
                                    "best_val_hr@5": model.history.best_score, "world_size": world_size})


class _StopOnSignal:
    """SIGINT/SIGTERM ask the loop to stop at the next step boundary (a second SIGINT stops at once)."""

    def __init__(self):
        self.received: int | None = None
        self._old: dict = {}

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        return False


def _read_meta(run: Path) -> dict:
    meta_path = run / "config.json"
    if not meta_path.is_file():
        raise DataError(meta_path, "not a run directory (config.json missing)")
    return json.loads(meta_path.read_text())


def load_run(run: Path, data_dir: Path | None = None, device: str = "cpu") -> M2VAE:
    """The trained model of a run directory, or of an experiment cell's checkpoint ``EXP/cells/MODEL/seedK.pt``."""
    if run.suffix == ".pt":
        return _load_cell(run, data_dir, device)
    ds = _recorded_dataset(_read_meta(run), data_dir)
    model = M2VAE.load(run / "checkpoint.pt", ds, device)
    saved = load_split(run / "split.csv", model.ds)
    if (saved.role != model.split.role).any():
        raise DataError(run / "split.csv", "split differs from the one stored in the checkpoint")
    return model


def _load_cell(checkpoint: Path, data_dir: Path | None, device: str) -> M2VAE:
    exp = checkpoint.parent.parent.parent
    meta_path = exp / "experiment.json"
    if not checkpoint.is_file():
        raise DataError(checkpoint, "checkpoint not found (experiments keep M²VAE cells' checkpoints unless "
                                    "--no-checkpoints)")
    if checkpoint.parent.parent.name != "cells" or not meta_path.is_file():
        raise DataError(checkpoint, "not an experiment cell's checkpoint (expected EXP/cells/MODEL/seedK.pt beside "
                                    "EXP/experiment.json)")
    return M2VAE.load(checkpoint, _recorded_dataset(json.loads(meta_path.read_text()), data_dir), device)


def _recorded_dataset(meta: dict[str, Any], data_dir: Path | None, progress: bool = False) -> Dataset:
    """The dataset a run or an experiment recorded, from ``data_dir`` if given, else from the folder it recorded.

    A user's own folder is recorded by its path; after a move ``data_dir`` re-attaches it (the folder itself, or a
    folder holding it under its old name). The checkpoint's fingerprint then says whether the data are the same.
    """
    from .data.folder import is_folder_dataset

    name, recorded = meta["dataset"], Path(meta["data_dir"]) if meta.get("data_dir") else None
    if Path(name).is_absolute():
        if data_dir is not None:
            here = Path(data_dir)
            name = str(here if is_folder_dataset(here) else here / Path(name).name)
            if not is_folder_dataset(name):
                raise DataError(here, "not a data folder (interactions.csv and items.csv), nor a folder holding "
                                      f"{Path(meta['dataset']).name}/")
        elif not is_folder_dataset(name):
            raise DataError(name, "the run's data folder is not there (moved?): re-attach it with --data-dir FOLDER")
    return load_dataset(name, data_dir or recorded, images=True, progress=progress)


def evaluate_run(run: Path, data_dir: Path | None = None, device: str = "cpu") -> dict[str, Any]:
    """Metrics on validation and test cold items, with the references on the same split → ``RUN/metrics.json``."""
    model = load_run(run, data_dir, device)
    ks = model.config.ks
    out: dict[str, Any] = {role: model.evaluate(role, ks) for role in ("validation", "test")}
    out["baselines"] = {
        name: {role: evaluate(make(model.ds, model.split), model.ds, model.split, role, ks)
               for role in ("test", "validation")}
        for name, make in REFERENCES.items()
    }
    try:
        write_json(run / "metrics.json", out)
    except DataError as exc:  # a read-only run: the figures are still printed
        warnings.warn(f"{exc}; metrics.json not written", stacklevel=2)
    return out
