"""Grid search on validation cold items only — the paper's procedure for (α, β), and the same budget for every
baseline.

``m2vae tune DATASET --grid alpha_dcl=1,10,100 --grid beta_co=0.01,0.1,0.5 --seeds 2 --out DIR`` trains M²VAE at
every point of the grid on seeds 0..N-1 and ranks the points by their mean best validation HR@5 (the same
early-stopping score the trainer uses). Test cold items are never scored here, so the choice cannot see them.
``m2vae tune DATASET --model NAME`` does the same for a learned baseline over its own ``GRID`` (its module, next to
its defaults) unless ``--grid`` names another; the shared budget (epochs, patience, triples) is M²VAE's.

Layout of ``OUT/``: ``experiment.json`` (dataset, grid, base overrides, epochs, code defaults — a different search
in the same directory is refused, as in the experiment harness), ``cells/POINT/seedK.json`` (one per finished
cell), ``tune.csv`` (one row per point × seed) and ``tune.md`` (points by mean validation HR@5, best first).
"""

from __future__ import annotations

import itertools
import json
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import atomic_write
from ..baselines.registry import LEARNED, family, spec
from ..config import Config
from ..data.dataset import Dataset
from ..data.errors import DataError
from ..data.split import cold_start_split
from ..m2vae import M2VAE
from ..provenance import LOG_FILE, ConsoleLog
from .cells import fit_cell, run_cells
from .harness import code_defaults, open_experiment
from .models import Spec, build_model, m2vae_config

Grid = dict[str, list[Any]]


def grid_points(grid: Grid, model: str = "m2vae") -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order given (the last key varies fastest)."""
    for key, values in grid.items():
        if model == "m2vae" and key not in Config.__dataclass_fields__:
            raise DataError(None, f"--grid {key}: not a Config field")
        if not values:
            raise DataError(None, f"--grid {key}: no values")
    keys = list(grid)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]
    for point in points:  # a bad key or value (e.g. dcl=foo) is reported before any training
        if model == "m2vae":
            Config().replace(**point)
        else:
            spec(model).hyper("", point)
    return points


def check_tunable(model: str) -> None:
    if model != "m2vae" and (model not in LEARNED or spec(model).unavailable):
        available = [m for m in LEARNED if not spec(m).unavailable]
        raise DataError(None, f"--model {model!r}: choose m2vae or a learned baseline ({', '.join(available)})")


def point_label(point: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items())


def best_keys(label: str) -> list[str]:
    return [kv.split("=", 1)[0] for kv in label.split(",")]


def _cell_path(out: Path, point: dict[str, Any], seed: int) -> Path:
    return out / "cells" / point_label(point).replace("/", "_") / f"seed{seed}.json"


def run_tune(dataset: str | Dataset, data_dir: Path | None, out: Path, grid: Grid | None = None, seeds: int = 2,
             epochs: int | None = None, overrides: dict[str, Any] | None = None, force: bool = False,
             progress: bool = True, device: str | None = None, model: str = "m2vae", force_stale: bool = False
             ) -> pd.DataFrame:
    """Fit ``model`` (M²VAE or a learned baseline) at every grid point × seed not finished yet; return the points
    ranked by mean validation HR@5. ``grid = None``: the baseline's own ``GRID``. ``overrides`` are M²VAE Config
    fields (for a baseline: the shared budget only)."""
    check_tunable(model)
    if grid is None:
        if model == "m2vae":
            raise DataError(None, "tuning M²VAE needs --grid KEY=V1,V2,...")
        grid = spec(model).grid
    points = grid_points(grid, model)
    if seeds < 1:
        raise DataError(None, f"--seeds must be ≥ 1, got {seeds}")
    clash = set(grid) & set(overrides or {})
    if clash:
        raise DataError(None, f"{', '.join(sorted(clash))} given both in --grid and --set")
    name = dataset.name if isinstance(dataset, Dataset) else dataset
    meta = {"kind": "tune", "model": model, "dataset": name, "grid": grid, "epochs": epochs,
            "overrides": overrides or {}, "defaults": code_defaults(dataset)}
    ds = open_experiment(out, dataset, data_dir, meta, force, progress)
    splits: dict[tuple, Any] = {}

    def cell(seed: int, point: dict[str, Any]) -> dict[str, Any]:
        m2vae_point = point if model == "m2vae" else {}
        cfg = m2vae_config("m2vae", Spec(name, epochs, (overrides or {}) | m2vae_point), seed)
        key = (seed, cfg.cold_fraction, cfg.threshold)
        if key not in splits:
            splits[key] = cold_start_split(ds, seed, cfg.cold_fraction, cfg.threshold)
        rec = (M2VAE(ds, cfg, splits[key], device=device) if model == "m2vae"
               else build_model(model, ds, splits[key], seed, Spec(name, epochs, overrides), hyper=point))
        info = fit_cell(rec, _cell_path(out, point, seed))
        score = info.pop("best_val_hr@5", float("-inf"))
        return {"point": point, "seed": seed, "best_epoch": info.pop("best_epoch"), "val_hr@5": score, **info}

    with ConsoleLog(out / LOG_FILE):
        run_cells(out, [(_cell_path(out, p, s), f"{point_label(p)} seed {s}", partial(cell, s, p))
                        for s in range(seeds) for p in points], "tuning", progress, force_stale)
        return write_tune_results(out, points, seeds, model, name)


def write_tune_results(out: Path, points: list[dict[str, Any]], seeds: int, model: str = "m2vae",
                       dataset: str = "") -> pd.DataFrame:
    rows = []
    for point in points:
        for seed in range(seeds):
            cell = json.loads(_cell_path(out, point, seed).read_text())
            rows.append({"point": point_label(point), **point, "seed": seed, "val_hr@5": cell["val_hr@5"],
                         "best_epoch": cell["best_epoch"],
                         "seconds": cell["seconds"] + cell.get("seconds_before_resume", 0.0)})
    frame = pd.DataFrame(rows)
    atomic_write(out / "tune.csv", lambda tmp: frame.to_csv(tmp, index=False))
    text = tune_table(frame, seeds, model, dataset)
    atomic_write(out / "tune.md", lambda tmp: tmp.write_text(text))
    return frame


def tune_table(frame: pd.DataFrame, seeds: int, model: str = "m2vae", dataset: str = "") -> str:
    """Points by mean validation HR@5 over seeds, best first and bold; the per-seed scores beside."""
    wide = frame.pivot(index="point", columns="seed", values="val_hr@5")
    summary = pd.DataFrame({"mean": wide.mean(axis=1), "std": wide.std(axis=1, ddof=0)})
    summary["seconds"] = frame.groupby("point")["seconds"].sum()
    order = summary.sort_values("mean", ascending=False, kind="stable").index
    seed_cols = [f"seed {s}" for s in range(seeds)]
    lines = [f"validation HR@5 of the chosen epoch (mean over {seeds} seed(s)); test cold items not scored",
             "", "| point | mean | std | " + " | ".join(seed_cols) + " | s |",
             "|---|---|---|" + "---|" * len(seed_cols) + "---|"]
    for rank, point in enumerate(order):
        mean = f"{summary.loc[point, 'mean']:.4f}"
        lines.append(f"| {point} | {f'**{mean}**' if rank == 0 else mean} | {summary.loc[point, 'std']:.4f} | "
                     + " | ".join(f"{wide.loc[point, s]:.4f}" for s in range(seeds))
                     + f" | {summary.loc[point, 'seconds']:.0f} |")
    best = order[0]
    if model == "m2vae":
        choice = "`" + " ".join(f"--set {kv}" for kv in best.split(",")) + "`"
    else:  # the preset a baseline's module takes for the dataset's family
        point = frame.loc[frame["point"] == best].iloc[0]
        values = {k: point[k].item() if hasattr(point[k], "item") else point[k] for k in best_keys(best)}
        choice = f"`TUNED[{family(dataset)!r}] = {values!r}` in {model}'s module"
    lines += ["", f"best: {choice} (mean validation HR@5 {summary.loc[best, 'mean']:.4f})", ""]
    return "\n".join(lines)
