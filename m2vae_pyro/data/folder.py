"""Your own data: a folder any user can write with pandas, read with the same one-line errors as the built-in sets.

Layout of ``FOLDER/``:

- ``interactions.csv`` (header line): ``user,item`` and optionally ``rating`` and ``timestamp`` columns, any order.
  With ratings, the positives are ``rating >= Config.threshold`` (4.0 by default; ``--set threshold=none`` makes
  every interaction a positive); without, every interaction is one.
- ``items.csv`` (header line): ``item`` and ``attributes``, the attributes as ``|``-separated tokens (``Drama|1995``;
  empty for none). Every further column is one more attribute per item, its token ``COLUMN=value``. Items listed
  here without an interaction are kept: they are new items to score (``m2vae predict --items``).
- optional images: ``images/ITEM.jpg`` (or ``.jpeg``/``.png``), turned into EfficientNet-Lite0 features and cached
  like the posters; or precomputed ``image_features.npy`` (``[n, D]`` float) with ``image_items.csv`` (header
  ``item``, one row per feature row).

Ids may be numbers or any text; they are written back as given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import Dataset, Modality, build_csr
from .errors import DataError
from .tables import check_unique, require_file

REQUIRED = ("interactions.csv", "items.csv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_folder_dataset(name: str | Path) -> bool:
    """Whether ``name`` is a path to a folder in this format (rather than a built-in dataset name)."""
    path = Path(name)
    return path.is_dir() and all((path / f).is_file() for f in REQUIRED)


def _read_csv(path: Path) -> pd.DataFrame:
    require_file(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, on_bad_lines="error")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid utf-8 text ({exc.reason}; save it as UTF-8)",
                        line=_first_undecodable_line(path)) from None
    except pd.errors.ParserError as exc:
        import re

        m = re.search(r"line (\d+)", str(exc))
        raise DataError(path, "malformed line: " + str(exc).strip().splitlines()[-1],
                        line=int(m.group(1)) if m else None) from None
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty (it needs a header line)") from None
    frame.columns = [c.strip() for c in frame.columns]
    blank = (frame == "").all(axis=1).to_numpy()
    if blank.any():
        raise DataError(path, "empty line", line=int(np.argmax(blank)) + 2)
    return frame


def _first_undecodable_line(path: Path) -> int | None:
    """The 1-based line of the first bytes that are not UTF-8 (pandas reports an offset within its buffer)."""
    try:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        return None
    return None


def _need_columns(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing and len(frame.columns) == 1:
        header = frame.columns[0]
        sep = next((name for ch, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")) if ch in header), None)
        if sep:
            raise DataError(path, f"line 1: one column {header!r}: the file must be comma-separated (this one seems "
                                  f"separated by {sep}; e.g. pandas: df.to_csv(path, index=False))")
    if missing:
        raise DataError(path, f"line 1: missing column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})")


def _ids(values: pd.Series) -> np.ndarray:
    """Integer ids when every id is an integer (so they sort as numbers), else the text."""
    stripped = values.str.strip()
    as_int = pd.to_numeric(stripped, errors="coerce")
    if as_int.notna().all() and (as_int % 1 == 0).all():
        return as_int.to_numpy(np.int64)
    return stripped.to_numpy(dtype=str)


def _numbers(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(path, f"field '{column}' is not a number: {frame[column].iloc[row]!r}", line=row + 2)
    return values


def item_tokens(items: pd.DataFrame) -> list[list[str]]:
    """The attribute tokens of each row of an ``items.csv`` frame: the ``|``-separated ``attributes`` and one
    ``COLUMN=value`` token per further non-empty column."""
    extra = [c for c in items.columns if c not in ("item", "attributes")]
    tokens = [[t.strip() for t in s.split("|") if t.strip()] for s in items["attributes"]]
    for col in extra:
        for row, value in enumerate(items[col]):
            if value.strip():
                tokens[row].append(f"{col}={value.strip()}")
    return tokens


def read_items_csv(path: Path) -> tuple[np.ndarray, pd.DataFrame]:
    """``(raw ids, frame)`` of a file laid out like ``items.csv``, rows in file order (ids checked: present,
    unique)."""
    items = _read_csv(path)
    _need_columns(path, items, ("item", "attributes"))
    empty_id = (items["item"].str.strip() == "").to_numpy()
    if empty_id.any():
        raise DataError(path, "missing field 'item'", line=int(np.argmax(empty_id)) + 2)
    raw_items = _ids(items["item"])
    check_unique(path, raw_items, "item", 2, show=lambda r: str(raw_items[r]))
    return raw_items, items


SETTINGS = "dataset.toml"
FAMILIES = ("movielens", "amazon")


def folder_settings(folder: Path) -> dict:
    """``FOLDER/dataset.toml`` (optional): ``family`` — the presets it takes, ``movielens`` (explicit ratings) or
    ``amazon`` (implicit, sparse); inferred when absent: ``movielens`` if interactions.csv has a ``rating`` column,
    else ``amazon`` — and ``duplicates`` — a repeated (user, item) row is an ``error`` (default) or only its
    ``first`` or ``last`` row is kept."""
    import tomllib

    path = folder / SETTINGS
    table: dict = {}
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DataError(path, f"invalid TOML: {exc}") from None
    unknown = set(table) - {"family", "duplicates"}
    if unknown:
        raise DataError(path, f"unknown key(s) {', '.join(sorted(unknown))}; it takes family and duplicates")
    out = {"family": table.get("family"), "duplicates": table.get("duplicates", "error")}
    if out["family"] is not None and out["family"] not in FAMILIES:
        raise DataError(path, f"family = {out['family']!r}; choose one of {', '.join(FAMILIES)}")
    if out["duplicates"] not in ("error", "first", "last"):
        raise DataError(path, f"duplicates = {out['duplicates']!r}; choose error, first or last")
    return out


def inferred_family(folder: Path) -> str:
    """The family of a folder without reading its data: ``dataset.toml``, else whether interactions.csv's header
    names a ``rating`` column."""
    declared = folder_settings(folder)["family"]
    if declared:
        return declared
    with open(folder / "interactions.csv", encoding="utf-8", errors="replace") as fh:
        header = {h.strip() for h in fh.readline().split(",")}
    return "movielens" if "rating" in header else "amazon"


def load_folder(folder: str | Path) -> Dataset:
    folder = Path(folder)
    settings = folder_settings(folder)
    items_path, inter_path = folder / "items.csv", folder / "interactions.csv"
    raw_items, items = read_items_csv(items_path)
    order = np.argsort(raw_items, kind="stable")
    items, item_ids = items.iloc[order].reset_index(drop=True), raw_items[order]

    tokens = item_tokens(items)
    names = sorted({t for ts in tokens for t in ts})
    lookup = {t: k for k, t in enumerate(names)}
    indptr, indices = build_csr([sorted({lookup[t] for t in ts}) for ts in tokens])

    inter = _read_csv(inter_path)
    _need_columns(inter_path, inter, ("user", "item"))
    for col in ("user", "item"):
        empty = (inter[col].str.strip() == "").to_numpy()
        if empty.any():
            raise DataError(inter_path, f"missing field '{col}'", line=int(np.argmax(empty)) + 2)
    raw_users = _ids(inter["user"])
    inter_items = inter["item"].str.strip().tolist()
    lookup_items = {str(v): k for k, v in enumerate(item_ids)}
    idx = np.array([lookup_items.get(v, -1) for v in inter_items], dtype=np.int64)
    if (idx < 0).any():
        row = int(np.argmax(idx < 0))
        raise DataError(inter_path, f"item {inter_items[row]!r} is not in items.csv", line=row + 2)
    user_ids, users = np.unique(raw_users, return_inverse=True)
    keys = users.astype(np.int64) * len(item_ids) + idx
    ratings = _numbers(inter_path, inter, "rating").astype(np.float32) if "rating" in inter.columns else None
    if "timestamp" in inter.columns:
        _numbers(inter_path, inter, "timestamp")
    if settings["duplicates"] == "error":
        try:
            check_unique(inter_path, keys, "interaction", 2,
                         show=lambda r: f"(user {raw_users[r]}, item {inter_items[r]})")
        except DataError as exc:
            raise DataError(exc.path, exc.message + f"; to keep one of each, write duplicates = \"first\" (or "
                                                    f"\"last\") in {folder / SETTINGS}", line=exc.line) from None
    else:  # keep the first (or last) row of each (user, item)
        order = np.arange(len(keys)) if settings["duplicates"] == "first" else np.arange(len(keys))[::-1]
        keep = np.sort(order[np.unique(keys[order], return_index=True)[1]])
        users, idx = users[keep], idx[keep]
        ratings = None if ratings is None else ratings[keep]
        user_ids, users = np.unique(user_ids[users], return_inverse=True)
    family = inferred_family(folder)  # the one place the rule lives (loaders.dataset_family reads it too)
    ds = Dataset(name=folder.resolve().name, user_ids=user_ids, item_ids=item_ids, users=users.astype(np.int64),
                 items=idx, ratings=ratings, attr_indptr=indptr, attr_indices=indices, attribute_names=names,
                 positive_threshold=4.0 if ratings is not None else None, root=folder.resolve().parent,
                 family=family)
    image = _image_modality(folder, item_ids, lookup_items)
    if image is not None:
        ds.modalities["image"] = image
    return ds


def _image_modality(folder: Path, item_ids: np.ndarray, lookup: dict[str, int]) -> Modality | None:
    """``lookup``: an item id as written in a file → its index (the one map of ``load_folder``)."""
    feats_path, ids_path, images = folder / "image_features.npy", folder / "image_items.csv", folder / "images"
    if feats_path.exists() or ids_path.exists():
        return read_image_features(feats_path, ids_path, item_ids, lookup)
    if not images.is_dir():
        return None
    return image_files(images, item_ids)


def read_image_features(feats_path: Path, ids_path: Path, item_ids: np.ndarray, lookup: dict[str, int],
                        items_file: str = "items.csv") -> Modality:
    """Precomputed features ``[n, D]`` (``.npy``) with their item ids (a CSV with an ``item`` column), as a
    modality over ``item_ids`` (``lookup``: an id as written → its index)."""
    require_file(feats_path)
    ids = _read_csv(ids_path)
    _need_columns(ids_path, ids, ("item",))
    try:
        feats = np.load(feats_path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(feats_path, f"not a numpy array file: {exc}") from None
    if feats.ndim != 2 or len(feats) != len(ids):
        raise DataError(feats_path, f"expected a [{len(ids)}, D] array (one row per line of image_items.csv), "
                                    f"got shape {feats.shape}")
    if not np.isfinite(feats).all():
        row = int(np.argmax(~np.isfinite(feats).all(axis=1)))
        raise DataError(feats_path, f"row {row} (item {ids['item'].iloc[row]}) holds NaN or inf")
    rows = np.array([lookup.get(v.strip(), -1) for v in ids["item"]], dtype=np.int64)
    if (rows < 0).any():
        row = int(np.argmax(rows < 0))
        raise DataError(ids_path, f"item {ids['item'].iloc[row]!r} is not in {items_file}", line=row + 2)
    check_unique(ids_path, rows, "item", 2)
    full = np.zeros((len(item_ids), feats.shape[1]), dtype=np.float32)
    full[rows] = feats
    present = np.zeros(len(item_ids), dtype=bool)
    present[rows] = True
    mod = Modality(present=present)
    mod.features = full
    return mod


def image_files(images: Path, item_ids: np.ndarray) -> Modality | None:
    """``images/ITEM.jpg`` (``.jpeg``, ``.png``) for each of ``item_ids``: a modality whose features are computed
    later (``images.attach_image_features``); ``None`` when no item has a file."""
    files = {p.stem: p for p in sorted(images.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    sources = [files.get(str(v)) for v in item_ids]
    present = np.array([s is not None for s in sources], dtype=bool)
    return Modality(present=present, sources=sources) if present.any() else None
