"""``load_dataset(name, data_dir)``: one entry point over every supported source."""

from __future__ import annotations

import os
from pathlib import Path

from .amazon import load_amazon
from .dataset import Dataset
from .errors import DataError
from .movielens import load_ml100k, load_ml_latest_small

_LOADERS = {"ml-100k": load_ml100k, "ml-latest-small": load_ml_latest_small}


def default_data_dir() -> Path:
    """``$M2VAE_DATA``, else ``./data``."""
    return Path(os.environ.get("M2VAE_DATA", "data"))


def available_datasets(data_dir: Path) -> list[str]:
    names = [n for n in _LOADERS if (data_dir / n).is_dir()]
    if data_dir.is_dir():
        names += sorted(p.name for p in data_dir.glob("amazon-*") if p.is_dir())
        names += sorted(p.name for p in data_dir.glob("synth-*") if p.is_dir())
    return names


def dataset_family(name: str, strict: bool = False) -> str:
    """The preset family of a dataset, decided in one place: ``amazon-*`` → ``amazon``; ``ml-*`` and ``synth-*`` →
    ``movielens``; a folder of the generic format → its ``dataset.toml`` ``family``, else ``movielens`` when its
    interactions carry ratings and ``amazon`` when not. Any other name: a DataError with ``strict``, else
    ``movielens`` (a dataset built in memory, named freely)."""
    from .folder import inferred_family, is_folder_dataset

    if is_folder_dataset(name):
        return inferred_family(Path(name))
    if name.startswith("amazon-"):
        return "amazon"
    if name.startswith(("ml-", "synth-")) or not strict:
        return "movielens"
    hint = " (a folder needs interactions.csv and items.csv)" if Path(name).is_dir() else ""
    raise DataError(None, f"unknown dataset {name!r}: a built-in name (ml-100k, ml-latest-small, amazon-<category>, "
                          f"synth-<name>) or the path of a data folder{hint}")


def load_dataset(name: str, data_dir: str | Path | None = None, images: bool = False,
                 progress: bool = True) -> Dataset:
    """Load ``name`` (``ml-100k``, ``ml-latest-small``, ``amazon-<category>``, ``synth-<name>``) from ``data_dir``,
    or the folder at path ``name`` in the generic format of :mod:`.folder` (``data_dir`` is then not used).

    With ``images=True`` poster features are attached too (computed once, then read from the cache).
    """
    from .folder import is_folder_dataset, load_folder

    if is_folder_dataset(name):  # a path to a folder in the generic format (data/folder.py)
        ds = load_folder(name)
        if images:
            from .images import attach_image_features

            attach_image_features(ds, progress=progress)
        return ds
    data_dir = default_data_dir() if data_dir is None else Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, "data directory not found (set --data-dir or $M2VAE_DATA)")
    if name in _LOADERS:
        ds = _LOADERS[name](data_dir)
    elif name.startswith("amazon-"):
        ds = load_amazon(data_dir, name)
    elif name.startswith("synth-"):
        from . import synthetic

        ds = synthetic.load(data_dir, name)
    else:
        known = ", ".join(available_datasets(data_dir)) or "none"
        hint = (f"; {name} is a folder but lacks " + " and ".join(f for f in ("interactions.csv", "items.csv")
                                                                  if not (Path(name) / f).is_file())
                if Path(name).is_dir() else "; or give the path of a folder with interactions.csv and items.csv")
        raise DataError(data_dir, f"unknown dataset {name!r} (found here: {known}){hint}")
    if images:
        from .images import attach_image_features

        attach_image_features(ds, progress=progress)
    return ds
