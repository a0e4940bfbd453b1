"""Loaders for the original GroupLens files: ML-100K (``u.data``/``u.item``) and ml-latest-small."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset, Modality, build_csr, index_interactions
from .errors import DataError
from .tables import check_range, check_unique, read_table

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
NO_GENRES = "(no genres listed)"


def load_ml100k(root: Path) -> Dataset:
    """MovieLens 100K from ``root/ml-100k``; posters joined through ``root/ml-100k-posters.csv``."""
    folder = root / "ml-100k"
    ratings_path, items_path = folder / "u.data", folder / "u.item"
    item_cols = {"movie_id": "int", "title": "str", "release": "str", "video": "str", "url": "str"}
    item_cols |= {f"g{k}": "int" for k in range(len(ML100K_GENRES))}
    items = read_table(items_path, item_cols, sep="|", encoding="latin-1")
    item_ids = items["movie_id"].to_numpy()
    check_unique(items_path, item_ids, "movie id", 1)
    order = np.argsort(item_ids, kind="stable")
    items, item_ids = items.iloc[order].reset_index(drop=True), item_ids[order]
    flags = items[[f"g{k}" for k in range(len(ML100K_GENRES))]].to_numpy()
    bad = (flags != 0) & (flags != 1)
    if bad.any():
        row = int(order[np.argmax(bad.any(axis=1))])
        raise DataError(items_path, "genre flags must be 0 or 1", line=row + 1)
    indptr, indices = build_csr([np.flatnonzero(f) for f in flags])

    ratings = read_table(ratings_path, {"user": "int", "item": "int", "rating": "int", "timestamp": "int"}, sep="\t")
    check_range(ratings_path, ratings["rating"].to_numpy(), 1, 5, "rating", 1, step=1)
    _check_pairs(ratings_path, ratings["user"].to_numpy(), ratings["item"].to_numpy(), 1)
    user_ids, users, item_idx = index_interactions(
        ratings_path, ratings["user"].to_numpy(), ratings["item"].to_numpy(), item_ids, 1
    )
    ds = Dataset(
        name="ml-100k", user_ids=user_ids, item_ids=item_ids, users=users, items=item_idx,
        ratings=ratings["rating"].to_numpy(np.float32), attr_indptr=indptr, attr_indices=indices,
        attribute_names=list(ML100K_GENRES), root=root,
    )
    posters = _ml100k_posters(root, item_ids)
    ds.modalities["image"] = _poster_modality(root, posters)
    return ds


def load_ml_latest_small(root: Path) -> Dataset:
    """MovieLens latest-small (``ratings.csv``/``movies.csv``); movie ids are the ML-1M poster ids."""
    folder = root / "ml-latest-small"
    ratings_path, movies_path = folder / "ratings.csv", folder / "movies.csv"
    movies = read_table(movies_path, {"movieId": "int", "title": "str", "genres": "str"}, sep=",", header=True)
    item_ids = movies["movieId"].to_numpy()
    check_unique(movies_path, item_ids, "movieId", 2)
    order = np.argsort(item_ids, kind="stable")
    movies, item_ids = movies.iloc[order].reset_index(drop=True), item_ids[order]
    genre_lists = [[g for g in s.split("|") if g and g != NO_GENRES] for s in movies["genres"]]
    names = sorted({g for gl in genre_lists for g in gl})
    lookup = {g: k for k, g in enumerate(names)}
    indptr, indices = build_csr([sorted(lookup[g] for g in gl) for gl in genre_lists])

    ratings = read_table(ratings_path, {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"},
                         sep=",", header=True)
    check_range(ratings_path, ratings["rating"].to_numpy(), 0.5, 5.0, "rating", 2, step=0.5)
    _check_pairs(ratings_path, ratings["userId"].to_numpy(), ratings["movieId"].to_numpy(), 2)
    user_ids, users, item_idx = index_interactions(
        ratings_path, ratings["userId"].to_numpy(), ratings["movieId"].to_numpy(), item_ids, 2
    )
    ds = Dataset(
        name="ml-latest-small", user_ids=user_ids, item_ids=item_ids, users=users, items=item_idx,
        ratings=ratings["rating"].to_numpy(np.float32), attr_indptr=indptr, attr_indices=indices,
        attribute_names=names, root=root,
    )
    ds.modalities["image"] = _poster_modality(root, item_ids)
    return ds


def _check_pairs(path: Path, users: np.ndarray, items: np.ndarray, first_line: int) -> None:
    """A user rates an item once; a repeated line would silently count twice."""
    check_unique(path, users * (int(items.max()) + 1) + items, "rating", first_line,
                 show=lambda r: f"(user {users[r]}, item {items[r]})")


def _ml100k_posters(root: Path, item_ids: np.ndarray) -> np.ndarray:
    """ML-1M poster id per ML-100K item (``-1`` where the join file lists none)."""
    path = root / "ml-100k-posters.csv"
    table = read_table(path, {"ml100k_item_id": "int", "ml1m_movie_id": "int", "match": "str"}, sep=",", header=True)
    out = np.full(len(item_ids), -1, dtype=np.int64)
    pos = np.searchsorted(item_ids, table["ml100k_item_id"].to_numpy())
    known = (pos < len(item_ids)) & (item_ids[np.minimum(pos, len(item_ids) - 1)] == table["ml100k_item_id"])
    if not known.all():
        row = int(np.argmax(~known.to_numpy()))
        raise DataError(path, f"item {table['ml100k_item_id'].iloc[row]} is not in u.item", line=row + 2)
    out[pos] = table["ml1m_movie_id"].to_numpy()
    return out


def _poster_modality(root: Path, poster_ids: np.ndarray) -> Modality:
    """Presence mask and source paths of ``ml-1m-posters/images/{id}.jpg``; features come later."""
    images = root / "ml-1m-posters" / "images"
    available = {p.name for p in images.glob("*.jpg")} if images.is_dir() else set()
    sources: list[Path | None] = [
        images / f"{pid}.jpg" if pid >= 0 and f"{pid}.jpg" in available else None for pid in poster_ids.tolist()
    ]
    present = np.array([s is not None for s in sources], dtype=bool)
    return Modality(present=present, sources=sources)


