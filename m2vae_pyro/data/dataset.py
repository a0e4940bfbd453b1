"""One dataset type for every source: interactions, item attributes, content modalities."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError


@dataclass
class Modality:
    """A dense content feature per item, with a presence mask.

    ``features`` is ``[n_items, D]`` float32 (rows of absent items are zero and must never be read);
    it is ``None`` until computed (image features are computed lazily from ``sources``).
    """

    present: np.ndarray  # [n_items] bool
    features: np.ndarray | None = None  # [n_items, D] float32
    sources: list[Path | None] | None = None  # per item, e.g. the poster file

    @property
    def coverage(self) -> int:
        return int(self.present.sum())


@dataclass
class Dataset:
    """Interactions between users and items, plus item content.

    Users and items are re-indexed to ``0..n-1``; ``user_ids``/``item_ids`` map back to the original ids.
    Interactions are parallel arrays ``users``, ``items`` (int64) and ``ratings`` (float32, ``None`` for
    implicit data where every interaction is a positive). Attributes are a CSR multi-hot matrix:
    the attributes of item ``i`` are ``attr_indices[attr_indptr[i]:attr_indptr[i+1]]``.
    """

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray | None
    attr_indptr: np.ndarray
    attr_indices: np.ndarray
    attribute_names: list[str]
    modalities: dict[str, Modality] = field(default_factory=dict)
    positive_threshold: float | None = 4.0
    root: Path | None = None
    # the preset family (config.PRESETS, the baselines' presets): decided once, by the loader (loaders.dataset_family)
    family: str = "movielens"

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.users)

    @property
    def n_attributes(self) -> int:
        return len(self.attribute_names)

    def positive_mask(self, threshold: float | None | str = "dataset") -> np.ndarray:
        """Implicit feedback: ``rating >= threshold``; every interaction where there are no ratings or the threshold
        is ``None``. ``"dataset"``: the dataset's own ``positive_threshold``."""
        threshold = self.positive_threshold if threshold == "dataset" else threshold
        if self.ratings is None or threshold is None:
            return np.ones(self.n_interactions, dtype=bool)
        return self.ratings >= threshold

    def item_attributes(self, item: int) -> np.ndarray:
        return self.attr_indices[self.attr_indptr[item] : self.attr_indptr[item + 1]]

    def user_index(self, ids, origin: Path | None = None) -> np.ndarray:
        """Indices ``0..n_users-1`` of raw user ids (a DataError, naming ``origin``, lists the ids this dataset does
        not have)."""
        return _lookup(self.user_ids, ids, "user", origin)

    def item_index(self, ids, origin: Path | None = None) -> np.ndarray:
        """Indices ``0..n_items-1`` of raw item ids."""
        return _lookup(self.item_ids, ids, "item", origin)

    def attribute_matrix(self) -> np.ndarray:
        """Dense multi-hot ``[n_items, n_attributes]`` (float32)."""
        out = np.zeros((self.n_items, self.n_attributes), dtype=np.float32)
        rows = np.repeat(np.arange(self.n_items), np.diff(self.attr_indptr))
        out[rows, self.attr_indices] = 1.0
        return out

    def set_features(self, modality: str, features: np.ndarray, present: np.ndarray, origin: str) -> None:
        """Attach dense features for ``modality``; ``origin`` names where they came from for errors."""
        features = np.asarray(features, dtype=np.float32)
        present = np.asarray(present, dtype=bool)
        if features.ndim != 2 or features.shape[0] != self.n_items or present.shape != (self.n_items,):
            raise DataError(origin, f"{modality} features have shape {features.shape}, "
                                    f"expected [{self.n_items}, D] with a presence mask of {self.n_items}")
        bad = ~np.isfinite(features[present]).all(axis=1)
        if bad.any():
            item = self.item_ids[np.flatnonzero(present)[np.argmax(bad)]]
            raise DataError(origin, f"{modality} feature of item {item} contains NaN or inf")
        features = features.copy()
        features[~present] = 0.0
        mod = self.modalities.setdefault(modality, Modality(present=present))
        mod.present, mod.features = present, features

    def summary(self) -> dict[str, int]:
        """The counts printed by ``m2vae data summary``."""
        out = {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "positives": int(self.positive_mask().sum()),
            "attributes": self.n_attributes,
            "items with attributes": int((np.diff(self.attr_indptr) > 0).sum()),
        }
        for name, mod in self.modalities.items():
            out[f"items with {name}"] = mod.coverage
        return out


def warn_items_without_content(ds: Dataset) -> None:
    """One warning line counting the items with neither an attribute nor an image (scored alike, from nothing)."""
    import warnings

    empty = np.diff(ds.attr_indptr) == 0
    image = ds.modalities.get("image")
    if image is not None:
        empty &= ~image.present
    if empty.any():
        warnings.warn(f"{ds.name}: {int(empty.sum())} of {ds.n_items} items have no attribute and no image; the model "
                      "scores them all alike, from its learned missing-content vectors", stacklevel=2)


def _lookup(known: np.ndarray, ids, what: str, origin: Path | None = None) -> np.ndarray:
    """Positions of ``ids`` in ``known``, compared as text: an id may be given as a number or as its text (as read
    from a file or the command line)."""
    ids = np.atleast_1d(np.asarray(ids)).tolist()
    table = {str(v): k for k, v in enumerate(known.tolist())}
    out = np.array([table.get(str(v), -1) for v in ids], dtype=np.int64)
    if (out < 0).any():
        bad = [v for v, k in zip(ids, out, strict=True) if k < 0]
        shown = ", ".join(map(repr, bad[:5])) + (" …" if len(bad) > 5 else "")
        raise DataError(origin, f"unknown {what} id(s): {shown} ({len(bad)} of {len(ids)} not in the dataset)")
    return out


def build_csr(lists: list[np.ndarray] | list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr, indices)`` from one list of ids per row."""
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if lists else np.zeros(0, np.int64)
    return indptr, indices.astype(np.int64)


def index_interactions(
    path: Path, raw_users: np.ndarray, raw_items: np.ndarray, item_ids: np.ndarray, line_offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map raw ids to ``0..n-1``; every rated item must be in ``item_ids`` (else a DataError naming the line).

    Returns ``(user_ids, users, items)``; users are indexed in order of first appearance sorted by id.
    """
    pos = np.searchsorted(item_ids, raw_items)
    pos_c = np.minimum(pos, len(item_ids) - 1)
    unknown = item_ids[pos_c] != raw_items
    if unknown.any():
        row = int(np.argmax(unknown))
        raise DataError(path, f"item {raw_items[row]} is not in the item file", line=row + line_offset)
    user_ids, users = np.unique(raw_users, return_inverse=True)
    return user_ids, users.astype(np.int64), pos.astype(np.int64)
