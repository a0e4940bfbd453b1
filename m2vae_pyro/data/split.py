"""The cold-start split (docs/design.md §4): 20% of items with a positive become cold, halved into validation and
test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from .dataset import Dataset
from .errors import DataError

ROLES = ("train", "validation", "test")


@dataclass
class ColdStartSplit:
    """Item roles plus the positive interactions each role owns.

    ``role[i]`` is 0 (warm/train), 1 (validation cold), 2 (test cold) or -1 (no positive: unused).
    ``train_users``/``train_items`` are the positives on warm items — the only interactions training sees.
    """

    role: np.ndarray
    pos_users: np.ndarray
    pos_items: np.ndarray
    seed: int
    threshold: float | None

    @property
    def train_mask(self) -> np.ndarray:
        return self.role[self.pos_items] == 0

    @property
    def train_users(self) -> np.ndarray:
        return self.pos_users[self.train_mask]

    @property
    def train_items(self) -> np.ndarray:
        return self.pos_items[self.train_mask]

    def user_activity(self, n_users: int) -> np.ndarray:
        """Training positives per user ``[n_users]`` (what ``userpop`` ranks by)."""
        return np.bincount(self.train_users, minlength=n_users)

    @classmethod
    def from_roles(cls, ds: Dataset, role: np.ndarray, seed: int, threshold: float | None) -> ColdStartSplit:
        """A split with given item roles; the positives follow from the dataset and the threshold."""
        mask = ds.positive_mask(threshold)
        return cls(role=np.asarray(role, dtype=np.int64), pos_users=ds.users[mask], pos_items=ds.items[mask],
                   seed=seed, threshold=threshold if ds.ratings is not None else None)

    def with_items(self, n: int) -> ColdStartSplit:
        """The split of a dataset with ``n`` new items appended: they have no role (-1) and no positive."""
        return ColdStartSplit(np.r_[self.role, np.full(n, -1, dtype=np.int64)], self.pos_users, self.pos_items,
                              self.seed, self.threshold)

    def items(self, role: str) -> np.ndarray:
        return np.flatnonzero(self.role == ROLES.index(role))

    def positives(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) of the positives whose item has ``role``."""
        mask = self.role[self.pos_items] == ROLES.index(role)
        return self.pos_users[mask], self.pos_items[mask]

    def to_frame(self, ds: Dataset) -> pd.DataFrame:
        keep = self.role >= 0
        return pd.DataFrame({"item_id": ds.item_ids[keep], "role": np.array(ROLES)[self.role[keep]]})

    def save(self, path: Path, ds: Dataset) -> None:
        """A readable CSV of original item ids and roles, after one comment line with the dataset, seed and threshold
        (``pandas.read_csv(path, comment="#")`` reads it)."""
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "w") as fh:
                fh.write(f"# dataset={ds.name} seed={self.seed} threshold={self.threshold}\n")
                self.to_frame(ds).to_csv(fh, index=False)

        atomic_write(path, write)


def no_positives_message(ds: Dataset, threshold: float | None) -> str:
    """Why a dataset gives nothing to train on, and what to change."""
    if ds.n_interactions == 0:
        return f"{ds.name} has no interactions (interactions.csv holds only its header?)"
    low, high = float(ds.ratings.min()), float(ds.ratings.max())
    return (f"{ds.name}: no interaction is a positive at threshold {threshold} (ratings range {low:g}–{high:g}); "
            f"choose one with --set threshold=… (e.g. {high:g}) or --set threshold=none (every interaction)")


def cold_start_split(ds: Dataset, seed: int = 0, cold_fraction: float = 0.2,
                     threshold: float | None = 4.0) -> ColdStartSplit:
    """Seeded split; implicit feedback is ``rating >= threshold`` (every interaction on implicit data)."""
    if not 0.0 < cold_fraction < 1.0:
        raise ValueError(f"cold_fraction must be in (0, 1), got {cold_fraction}")
    mask = ds.positive_mask(threshold)
    if not mask.any():
        raise DataError(ds.root, no_positives_message(ds, threshold))
    users, items = ds.users[mask], ds.items[mask]
    with_pos = np.unique(items)
    rng = np.random.default_rng(seed)
    cold = rng.permutation(with_pos)[: int(round(cold_fraction * len(with_pos)))]
    half = len(cold) // 2
    role = np.full(ds.n_items, -1, dtype=np.int64)
    role[with_pos] = 0
    role[cold[:half]] = 1
    role[cold[half:]] = 2
    return ColdStartSplit(role=role, pos_users=users, pos_items=items, seed=seed,
                          threshold=threshold if ds.ratings is not None else None)


def load_split(path: Path, ds: Dataset) -> ColdStartSplit:
    """Read a split written by :meth:`ColdStartSplit.save` back onto ``ds``."""
    if not path.is_file():
        raise DataError(path, "split file not found")
    header = path.read_text().splitlines()[0]
    meta = dict(kv.split("=", 1) for kv in header.lstrip("# ").split())
    if meta.get("dataset") != ds.name:
        raise DataError(path, f"split is for dataset {meta.get('dataset')!r}, not {ds.name!r}")
    frame = pd.read_csv(path, comment="#", dtype={"item_id": str})
    position = {str(v): k for k, v in enumerate(ds.item_ids.tolist())}  # ids compared as text (any order)
    pos = np.array([position.get(v, -1) for v in frame["item_id"]], dtype=np.int64)
    if (pos < 0).any() or not frame["role"].isin(ROLES).all():
        raise DataError(path, "split names items or roles that this dataset does not have")
    role = np.full(ds.n_items, -1, dtype=np.int64)
    role[pos] = frame["role"].map({r: k for k, r in enumerate(ROLES)}).to_numpy()
    threshold = None if meta.get("threshold") in (None, "None") else float(meta["threshold"])
    return ColdStartSplit.from_roles(ds, role, int(meta.get("seed", -1)), threshold)
