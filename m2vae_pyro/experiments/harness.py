"""The experiment harness: every model × every seed on one dataset, resumable cell by cell.

Layout of ``OUT/``: ``experiment.json`` (dataset, data dir, epochs, overrides, and the code's default settings),
``provenance.jsonl`` (one line per process that worked on it: version, git commit, command, libraries, start time),
``log.txt`` (the console output of every such process), ``cells/MODEL/seedK.pt`` (an M²VAE cell's best state,
unless ``--no-checkpoints``), ``cells/MODEL/seedK.json`` (one per
finished cell: test metrics under both protocols, validation HR@5 of the chosen epoch, wall time), ``results.csv``
(one row per model × seed × protocol) and ``table.md`` (mean ± std over seeds). A cell file is written atomically
when its model is done, so an interrupted experiment resumes at the next unfinished (model, seed) cell. Several
processes may run the same command on one directory (e.g. one per core): each cell is claimed by one of them
(``cells.py``), and the one that finishes last writes the tables.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..atomic import atomic_write
from ..baselines.reference import REFERENCES
from ..baselines.registry import FIXED, LEARNED
from ..config import FUSION_ONLY_VARIANTS, VARIANTS
from ..data.dataset import Dataset
from ..data.errors import DataError
from ..data.folder import is_folder_dataset
from ..data.loaders import load_dataset
from ..data.split import cold_start_split
from ..evaluation.protocols import PROTOCOLS, evaluate
from ..m2vae import M2VAE
from ..provenance import LOG_FILE, ConsoleLog, provenance
from ..runs import write_json
from .cells import fit_cell, run_cells
from .models import Spec, build_model, check_model_name, m2vae_config
from .table import results_table

PROVENANCE_LOG = "provenance.jsonl"
# Table 3: M²VAE, the paper's 13 baselines (and ALDI, added later), and the untrained references (docs/design.md §4)
DEFAULT_MODELS = ("m2vae", *LEARNED, *FIXED)
ABLATIONS = tuple(VARIANTS)


def cell_path(out: Path, model: str, seed: int) -> Path:
    """Where the (model, seed) cell of an experiment directory is kept (read by `benchmarks/per_seed.py` too)."""
    return out / "cells" / model.replace("/", "_").replace(":", "-") / f"seed{seed}.json"


# Fields of M²VAE's config that the baselines' cells read too (the split and the triples all models share).
_SHARED_FIELDS = frozenset({"c_p", "c_n", "batch_size", "patience", "eval_every", "cold_fraction", "threshold"})


def _completed(old: dict) -> dict:
    """``old``'s recorded defaults with every field it does not name at that field's class default.

    A settings field added to the code after an experiment was started is not a change of that experiment as long
    as its value is the class default: by this project's convention that default is the behaviour the code had
    before the field existed. A preset or tuned value of the new field (``config.TUNED``) is a change.
    """
    from dataclasses import asdict

    from ..baselines import Settings
    from ..config import Config

    classes = {"m2vae": Config().to_dict(), "baselines": asdict(Settings())}
    return {group: classes.get(group, {}) | fields for group, fields in old.items()}


def _changes(old: dict, meta: dict) -> tuple[set[str], set[str]] | None:
    """The M²VAE config fields and the learned baselines whose settings differ between two experiment records, or
    ``None`` when anything else does (dataset, epochs, ks, the baselines' shared settings): then every cell is."""
    if any(old.get(k) != meta[k] for k in meta if k not in ("defaults", "overrides")):
        return None
    old_defaults, new_defaults = old.get("defaults", {}), meta["defaults"]
    if old_defaults.get("baselines") != new_defaults["baselines"]:
        return None
    fields = set()
    for before, after in ((old_defaults.get("m2vae", {}), new_defaults["m2vae"]),
                          (old.get("overrides", {}), meta["overrides"])):
        fields |= {f for f in before.keys() | after.keys() if before.get(f) != after.get(f)}
    if fields & _SHARED_FIELDS:
        return None
    baselines = {group.split(" ", 1)[1] for group in old_defaults.keys() | new_defaults.keys()
                 if group.startswith("baseline ") and old_defaults.get(group) != new_defaults.get(group)}
    return fields, baselines


def _check_same_experiment(out: Path, meta: dict, force: bool) -> None:
    """An existing experiment directory is resumed only with the same dataset and settings.

    When only some models' own settings changed (e.g. M²VAE's tuned (α, β), or one baseline's preset), ``force``
    discards those models' cells and keeps the others, which did not depend on them: M²VAE's settings cover
    M²VAE, its variants and priors; a baseline's cover that baseline.
    """
    path = out / "experiment.json"
    if not path.is_file():
        if out.exists() and any(out.iterdir()) and not force:
            raise DataError(out, "directory exists, is not empty and holds no experiment.json; "
                                 "choose another --out or pass --force")
        return
    old = json.loads(path.read_text())
    # Defaults are compared too: resuming after a change of the code's defaults would mix two models in one
    # table. Directories written before defaults were recorded are taken as they are.
    if "defaults" in old:
        old = old | {"defaults": _completed(old["defaults"])}
        # a baseline added to the code since (ALDI) is no change: the directory cannot hold cells of it
        old["defaults"] |= {g: v for g, v in meta["defaults"].items()
                            if g.startswith("baseline ") and g not in old["defaults"]}
    keys = [k for k in meta if k != "defaults" or k in old]
    changed = [k for k in keys if old.get(k) != meta[k]]
    if not changed:
        return
    found = _changes(old, meta) if "defaults" in old else None
    from ..baselines import BASELINES

    def stale(model: str) -> bool:
        if found is None:
            return True
        fields, baselines = found
        return model in baselines if model in BASELINES else bool(fields)

    if not force:
        what = "its cells" if found is None else "the cells of " + ", ".join(
            (["M²VAE and its variants"] if found[0] else []) + sorted(found[1])) + \
            " (the other cells stay valid and are kept)"
        raise DataError(path, "this directory holds a different experiment (" + ", ".join(
            _describe(k, old.get(k), meta[k]) for k in changed) + "); choose another --out or "
            f"pass --force to discard {what}")
    import shutil

    cells = out / "cells"
    for model_dir in sorted(cells.iterdir()) if cells.is_dir() else []:
        if stale(model_dir.name):  # a baseline's folder is its name (no '/' or ':'); M²VAE's are none of them
            shutil.rmtree(model_dir, ignore_errors=True)


_MISSING = object()


def _describe(key: str, here: Any, asked: Any) -> str:
    if key != "defaults":
        return f"{key}: {here!r} here, {asked!r} asked"
    diffs = [f"{group}.{field} {value!r} here, " + (f"{asked[group][field]!r} now" if field in asked.get(group, {})
                                                    else "no longer a setting")
             for group, fields in here.items() for field, value in fields.items()
             if asked.get(group, {}).get(field, _MISSING) != value]
    return "code defaults changed since it was started: " + "; ".join(diffs)


def code_defaults(dataset: str | Dataset) -> dict[str, dict[str, Any]]:
    """The default settings of M²VAE on ``dataset`` (its preset included) and of the learned baselines, as the
    code defines them now."""
    from dataclasses import asdict

    from ..baselines import Settings, baseline_defaults
    from ..config import load_config

    name = dataset.name if isinstance(dataset, Dataset) else dataset
    return {"m2vae": load_config(name).to_dict(), "baselines": asdict(Settings()),
            **{f"baseline {name}": hyper for name, hyper in baseline_defaults(dataset).items()}}


def open_experiment(out: Path, dataset: str | Dataset, data_dir: Path | None, meta: dict[str, Any], force: bool,
                    progress: bool) -> Dataset:
    """Check that ``out`` is empty or holds this same experiment, record ``meta`` there, and load the dataset."""
    _check_same_experiment(out, meta, force)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "experiment.json", meta | {"data_dir": str(Path(data_dir).resolve()) if data_dir else None})
    with open(out / PROVENANCE_LOG, "a", encoding="utf-8") as log:  # one line per process that worked on it
        log.write(json.dumps(provenance()) + "\n")
    if isinstance(dataset, Dataset):
        return dataset
    return load_dataset(dataset, data_dir, images=True, progress=progress)


def run_experiment(dataset: str | Dataset, data_dir: Path | None, out: Path, models: Sequence[str] = DEFAULT_MODELS,
                   seeds: int = 5, epochs: int | None = None, overrides: dict[str, Any] | None = None,
                   ks: tuple[int, ...] = (5, 10, 20), highlight: str = "m2vae", force: bool = False,
                   progress: bool = True, device: str | None = None, checkpoints: bool = True,
                   force_stale: bool = False, seeds_of: dict[str, int] | None = None,
                   resume_other_code: bool = False) -> pd.DataFrame:
    """Train and evaluate every (model, seed) cell not finished yet; return and write the results.

    ``checkpoints``: an M²VAE cell also keeps its best state as ``cells/MODEL/seedK.pt``, which ``m2vae predict``
    and ``m2vae export`` read like a run directory.

    ``dataset`` is a name for :func:`load_dataset` (with image features), or a loaded :class:`Dataset`.
    ``seeds_of``: a seed count per model instead of ``seeds`` (issue 31's screen: seed 0 for every model, seeds
    0–2 for the ones confirmed); the table says each row's count. ``resume_other_code``: see :func:`fit_cell`.
    """
    for name in models:
        check_model_name(name)
    seeds_of = dict(seeds_of or {})
    for name, n in seeds_of.items():
        if name not in models:
            raise DataError(None, f"--seeds-of {name}={n}: {name} is not in --models")
        if n < 1:
            raise DataError(None, f"--seeds-of {name}={n}: must be ≥ 1")
    if seeds < 1:
        raise DataError(None, f"--seeds must be ≥ 1, got {seeds}")
    n_seeds = {m: seeds_of.get(m, seeds) for m in models}
    name = dataset.name if isinstance(dataset, Dataset) else dataset
    if not isinstance(dataset, Dataset) and is_folder_dataset(dataset):
        name = dataset = str(Path(dataset).resolve())  # a user's folder, found again from any directory
    spec = Spec(name, epochs, overrides)
    meta = {"dataset": name, "epochs": epochs, "overrides": overrides or {}, "ks": list(ks),
            "defaults": code_defaults(dataset)}
    ds = open_experiment(out, dataset, data_dir, meta, force, progress)
    _warn_coinciding_variants(ds, models)
    splits: dict[int, Any] = {}
    skipped = not_run(out)
    runnable = [m for m in models if not unavailable(m) and m not in skipped]

    def cell(seed: int, model: str) -> dict[str, Any]:
        if seed not in splits:
            cfg = m2vae_config("m2vae", spec, seed)
            splits[seed] = cold_start_split(ds, seed, cfg.cold_fraction, cfg.threshold)
        split = splits[seed]
        rec = build_model(model, ds, split, seed, spec, device)
        info = fit_cell(rec, cell_path(out, model, seed), resume_other_code)
        if checkpoints and isinstance(rec, M2VAE):
            rec.save(cell_path(out, model, seed).with_suffix(".pt"))
        with torch.inference_mode():
            test = {p: evaluate(rec.score_indices, ds, split, "test", ks, p) for p in PROTOCOLS}
        return {"model": model, "seed": seed, "info": info, "test": test}

    with ConsoleLog(out / LOG_FILE):
        run_cells(out, [(cell_path(out, m, s), f"{m} seed {s}", partial(cell, s, m))
                        for s in range(max(n_seeds.values())) for m in runnable if s < n_seeds[m]],
                  "experiment", progress, force_stale)
        return write_results(out, models, n_seeds, ks, highlight)


def _warn_coinciding_variants(ds: Dataset, models: Sequence[str]) -> None:
    """Say when an ablation would spend its cells retraining the full model under another name."""
    same = [m for m in models if m in FUSION_ONLY_VARIANTS]
    if same and "image" not in ds.modalities:
        warnings.warn(f"{ds.name} has one content modality (attributes), so {', '.join(same)} train the full "
                      "model (their switches act on the fusion of two or more modalities); leave them out of "
                      "--models to save their cells", stacklevel=2)


def unavailable(model: str) -> str | None:
    """Why a registered method cannot be run (its description could not be found), else ``None``."""
    from ..baselines.registry import spec

    return spec(model).unavailable if model in LEARNED else None


def write_results(out: Path, models: Sequence[str], seeds: int | dict[str, int], ks: tuple[int, ...],
                  highlight: str) -> pd.DataFrame:
    """``results.csv`` and ``table.md`` (``seeds``: one count, or one per model); a model that is not available gets
    one row saying why (``note``)."""
    rows, skipped = [], not_run(out)
    for model in models:
        if why := unavailable(model):
            rows.append({"model": model, "note": f"not available: {why}"})
            continue
        if why := skipped.get(model):
            rows.append({"model": model, "note": f"not run: {why}"})
            continue
        for seed in range(seeds[model] if isinstance(seeds, dict) else seeds):
            cell = json.loads(cell_path(out, model, seed).read_text())
            for protocol, metrics in cell["test"].items():
                rows.append({"model": model, "seed": seed, "protocol": protocol,
                             **{k: v for k, v in metrics.items() if not k.startswith("n_")},
                             "n_queries": metrics.get("n_queries"),
                             "n_unrankable_positives": metrics.get("n_unrankable_positives"),
                             "best_epoch": cell["info"].get("best_epoch"),
                             "val_hr@5": cell["info"].get("best_val_hr@5"),
                             # a cell resumed after a kill: this process's time plus the time before it
                             "seconds": cell["seconds"] + cell["info"].get("seconds_before_resume", 0.0)})
    frame = pd.DataFrame(rows)
    text = results_table(frame, ks, highlight, references=REFERENCES)
    frame.attrs["table"] = text
    if others := other_models(out, models):
        # a command run on some of a directory's models (say, M²VAE's cells after the baselines') must not replace
        # the directory's table with a table of those models only
        frame.attrs["not_written"] = (f"{out / 'results.csv'} and {out / 'table.md'} not written: {out} also holds "
                                      f"cells of {', '.join(others)}, not in --models; the same command with every "
                                      "model writes the directory's table")
        return frame
    atomic_write(out / "results.csv", lambda tmp: frame.to_csv(tmp, index=False))
    atomic_write(out / "table.md", lambda tmp: tmp.write_text(text))
    return frame


NOT_RUN_FILE = "not_run.json"


def not_run(out: Path) -> dict[str, str]:
    """``{model: why}`` of ``out/not_run.json``: the models an experiment directory does not run (issue 31's rule 4:
    a cell projected above the cost ceiling; written by ``benchmarks/bench_baseline_step.py --write-not-run``). Their
    rows say why; a model listed there that has cells is refused."""
    path = out / NOT_RUN_FILE
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise DataError(path, 'expected {"MODEL": "why it is not run", ...}')
    for model in entries:
        if any(cell_path(out, model, 0).parent.glob("seed*.json")):
            raise DataError(path, f"{model} is listed as not run but has cells in {out / 'cells'}")
    return entries


def other_models(out: Path, models: Sequence[str]) -> list[str]:
    """The folders of ``out/cells`` that hold a finished cell of a model not in ``models``."""
    ours = {cell_path(out, m, 0).parent.name for m in models}
    cells = out / "cells"
    return sorted(d.name for d in cells.iterdir()
                  if d.is_dir() and d.name not in ours and any(d.glob("seed*.json"))) if cells.is_dir() else []
