"""Run directories: ``train`` writes config, split, best checkpoint, loss history and curves; ``evaluate`` metrics.

Layout of ``RUN/``: ``config.json`` (dataset, data dir, every hyper-parameter), ``split.csv``, ``checkpoint.pt``
(best validation state), ``history.csv``, ``curves.png``, ``metrics.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .baselines.reference import REFERENCES
from .config import Config
from .data.errors import DataError
from .data.loaders import load_dataset
from .data.split import load_split
from .inference.evaluate import evaluate_item_to_user
from .m2vae import M2VAE


def write_json(path: Path, obj: Any) -> None:
    """Atomic: a crash never leaves a half-written file."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def prepare_run_dir(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()) and not force:
        raise DataError(out, "run directory exists and is not empty; choose another --out or pass --force")
    out.mkdir(parents=True, exist_ok=True)


def train_run(dataset: str, data_dir: Path | None, out: Path, config: Config, force: bool = False,
              progress: bool = True) -> M2VAE:
    prepare_run_dir(out, force)
    ds = load_dataset(dataset, data_dir, images=True, progress=progress)
    model = M2VAE(ds, config)
    write_json(out / "config.json", {"dataset": dataset, "data_dir": str(Path(data_dir or ".").resolve())
                                     if data_dir else None, "config": config.to_dict()})
    model.split.save(out / "split.csv", ds)
    t0 = time.perf_counter()
    history = model.fit(progress=progress, on_improve=lambda h: model.save(out / "checkpoint.pt"))
    model.save(out / "checkpoint.pt")  # the best state (fit restores it), also when validation never improved
    frame = pd.DataFrame(history.rows)
    frame.to_csv(out / "history.csv", index=False)
    from .analysis.curves import plot_training_curves

    plot_training_curves(frame, out / "curves.png")
    write_json(out / "train.json", {"seconds": time.perf_counter() - t0, "best_epoch": history.best_epoch,
                                    "best_val_hr@5": history.best_score})
    return model


def load_run(run: Path, data_dir: Path | None = None) -> M2VAE:
    meta_path = run / "config.json"
    if not meta_path.is_file():
        raise DataError(meta_path, "not a run directory (config.json missing)")
    meta = json.loads(meta_path.read_text())
    data_dir = data_dir or (Path(meta["data_dir"]) if meta.get("data_dir") else None)
    ds = load_dataset(meta["dataset"], data_dir, images=True)
    model = M2VAE.load(run / "checkpoint.pt", ds)
    saved = load_split(run / "split.csv", ds)
    if (saved.role != model.split.role).any():
        raise DataError(run / "split.csv", "split differs from the one stored in the checkpoint")
    return model


def evaluate_run(run: Path, data_dir: Path | None = None) -> dict[str, Any]:
    """Metrics on validation and test cold items, with the references on the same split → ``RUN/metrics.json``."""
    model = load_run(run, data_dir)
    ks = model.config.ks
    out: dict[str, Any] = {role: model.evaluate(role, ks) for role in ("validation", "test")}
    out["baselines"] = {
        name: {role: evaluate_item_to_user(make(model.ds, model.split), model.ds, model.split, role, ks)
               for role in ("test", "validation")}
        for name, make in REFERENCES.items()
    }
    write_json(run / "metrics.json", out)
    return out
