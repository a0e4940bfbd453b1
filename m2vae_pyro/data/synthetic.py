"""Synthetic data with planted multi-view structure, for tests and benchmarks (``m2vae data synth``).

Every item has a *shared* latent factor (seen by both modalities) and two *view-specific* factors: one that only
its attributes reveal and one that only its image features reveal. Attributes are the item's top-scoring
categories under ``[shared; attribute-specific]``; image features are a noisy linear map of
``[shared; image-specific]``. Each user likes items through the shared factor plus *one* view-specific factor —
attribute-specific for half of the users, image-specific for the other half (``prefers_image``). A model that
routes each user to the right view (M²VAE's modality gates, Eq. 11–13) can recover that preference; one that
pools the modalities cannot.

Written as ``DIR/synth-NAME/``: ``interactions.csv`` (user,item), ``attributes.csv`` (item,attribute),
``image_features.npy`` ``[n_items, D]`` and ``users.csv`` (user,prefers_image — the planted truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write
from .dataset import Dataset, Modality, build_csr, index_interactions
from .errors import DataError
from .tables import read_table


def generate(n_users: int = 500, n_items: int = 800, n_attributes: int = 40, image_dim: int = 64,
             factors: int = 8, per_user: int = 30, seed: int = 0, name: str = "synth") -> tuple[Dataset, np.ndarray]:
    """A :class:`Dataset` (implicit feedback, attributes, image features) and the planted ``prefers_image``."""
    for field, value, low in (("n_users", n_users, 2), ("n_items", n_items, 2), ("n_attributes", n_attributes, 2),
                              ("image_dim", image_dim, 1), ("factors", factors, 1), ("per_user", per_user, 1)):
        if value < low:
            raise DataError(None, f"synthetic data: {field} must be ≥ {low}, got {value}")
    if per_user >= n_items:
        raise DataError(None, f"synthetic data: per_user ({per_user}) must be below n_items ({n_items})")
    rng = np.random.default_rng(seed)
    items = planted_items(rng, n_items, n_attributes, image_dim, factors)
    prefers_image = rng.random(n_users) < 0.5
    taste_shared, taste_view = rng.normal(size=(n_users, factors)), rng.normal(size=(n_users, factors))

    def affinity(lo: int, hi: int) -> np.ndarray:
        rows = (taste_shared[lo:hi] @ items.shared.T).astype(np.float32)
        img = prefers_image[lo:hi]
        # each user's own view only: both products for every user would double the work and the memory
        rows[img] += taste_view[lo:hi][img] @ items.image_own.T
        rows[~img] += taste_view[lo:hi][~img] @ items.attr_own.T
        return rows

    chosen = choose_items(rng, affinity, n_users, n_items, per_user)
    return dataset_of(items, chosen, name), prefers_image


@dataclass
class PlantedItems:
    """Item factors ``[n_items, factors]`` (shared, attribute-specific, image-specific) and the content they make."""

    shared: np.ndarray
    attr_own: np.ndarray
    image_own: np.ndarray
    attrs: list[np.ndarray]
    n_attributes: int
    image: np.ndarray


def planted_items(rng: np.random.Generator, n_items: int, n_attributes: int, image_dim: int,
                  factors: int) -> PlantedItems:
    """Attributes are each item's top categories under ``[shared; attribute-specific]``, image features a noisy
    linear map of ``[shared; image-specific]``."""
    shared, attr_own, img_own = (rng.normal(size=(n_items, factors)) for _ in range(3))
    attr_logits = np.concatenate([shared, attr_own], 1) @ rng.normal(size=(2 * factors, n_attributes))
    n_attr = rng.integers(1, 4, size=n_items)
    order = np.argsort(-attr_logits, axis=1)
    attrs = [np.sort(order[i, : n_attr[i]]) for i in range(n_items)]
    image = np.concatenate([shared, img_own], 1) @ rng.normal(size=(2 * factors, image_dim))
    image = (image + 0.1 * rng.normal(size=image.shape)).astype(np.float32)
    return PlantedItems(shared, attr_own, img_own, attrs, n_attributes, image)


# Users per block of the choice: a dense [n_users, n_items] affinity (and its Gumbel noise) is ~15 GB each at
# ML-20M size, so both exist only for a block of users, ~2^24 floats (128 MiB in float64) at a time.
_BLOCK_ELEMENTS = 1 << 24


def choose_items(rng: np.random.Generator, affinity, n_users: int, n_items: int, per_user: int) -> np.ndarray:
    """``[n_users, per_user]``: each user's ``per_user`` distinct items, softmax-like in its affinity row, best first.

    ``affinity(lo, hi)`` gives the ``[hi - lo, n_items]`` rows of users ``lo..hi-1``. Gumbel-top-k: the top
    ``per_user`` of ``affinity + Gumbel`` is a draw without replacement with probabilities ∝ ``exp(affinity)``.
    Blocks are drawn in user order from ``rng``, so the result depends only on the seed and the sizes.
    """
    block = max(1, _BLOCK_ELEMENTS // n_items)
    chosen = np.empty((n_users, per_user), dtype=np.int64)
    for lo in range(0, n_users, block):
        hi = min(lo + block, n_users)
        score = affinity(lo, hi).astype(np.float32, copy=False)
        score += rng.gumbel(size=score.shape).astype(np.float32)
        np.negative(score, out=score)
        # only the order of the top per_user is needed: a partition is linear, a full sort of every row is not
        top = np.argpartition(score, per_user - 1, axis=1)[:, :per_user]
        order = np.argsort(np.take_along_axis(score, top, axis=1), axis=1, kind="stable")
        chosen[lo:hi] = np.take_along_axis(top, order, axis=1)
    return chosen


def dataset_of(items: PlantedItems, chosen: np.ndarray, name: str) -> Dataset:
    """The :class:`Dataset` of users' ``chosen`` items ``[n_users, per_user]`` over ``items``."""
    n_users, per_user = chosen.shape
    n_items = len(items.image)
    indptr, indices = build_csr(items.attrs)
    ds = Dataset(name=name, user_ids=np.arange(n_users), item_ids=np.arange(n_items),
                 users=np.repeat(np.arange(n_users), per_user), items=chosen.ravel(), ratings=None,
                 attr_indptr=indptr, attr_indices=indices,
                 attribute_names=[f"attribute {j}" for j in range(items.n_attributes)], positive_threshold=None)
    present = np.ones(n_items, dtype=bool)
    ds.modalities["image"] = Modality(present=present)
    ds.set_features("image", items.image, present, origin="synthetic")
    return ds


def as_dataset(rng: np.random.Generator, items: PlantedItems, affinity: np.ndarray, per_user: int,
               name: str) -> Dataset:
    """Each user picks ``per_user`` distinct items, softmax-like in a dense ``affinity`` ``[n_users, n_items]``."""
    n_users, n_items = affinity.shape
    return dataset_of(items, choose_items(rng, lambda lo, hi: affinity[lo:hi], n_users, n_items, per_user), name)


def write(ds: Dataset, prefers_image: np.ndarray, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "interactions.csv": pd.DataFrame({"user": ds.user_ids[ds.users], "item": ds.item_ids[ds.items]}),
        "attributes.csv": pd.DataFrame({"item": np.repeat(ds.item_ids, np.diff(ds.attr_indptr)),
                                        "attribute": ds.attr_indices}),
        "users.csv": pd.DataFrame({"user": ds.user_ids, "prefers_image": prefers_image.astype(int)}),
    }
    for file, frame in frames.items():
        atomic_write(folder / file, lambda tmp, f=frame: f.to_csv(tmp, index=False))
    atomic_write(folder / "image_features.npy",
                 lambda tmp: np.save(tmp, ds.modalities["image"].features))


def load(data_dir: Path, name: str) -> Dataset:
    """Read ``data_dir/name`` as written by :func:`write` (ids are kept as given)."""
    folder = data_dir / name
    inter = read_table(folder / "interactions.csv", {"user": "int", "item": "int"}, sep=",", header=True)
    attrs = read_table(folder / "attributes.csv", {"item": "int", "attribute": "int"}, sep=",", header=True)
    feats_path = folder / "image_features.npy"
    if not feats_path.is_file():
        raise DataError(feats_path, "file not found")
    try:
        feats = np.load(feats_path, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError) as exc:
        raise DataError(feats_path, f"not a numpy array file: {exc}") from None
    if feats.ndim != 2 or len(feats) == 0:
        raise DataError(feats_path, f"expected a [n_items, D] array, got shape {feats.shape}")
    n_items = len(feats)
    item_ids = np.arange(n_items)
    bad = (attrs["item"] < 0) | (attrs["item"] >= n_items) | (attrs["attribute"] < 0)
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(folder / "attributes.csv", f"item {attrs['item'].iloc[row]} outside 0..{n_items - 1} "
                                                   "or a negative attribute", line=row + 2)
    user_ids, users, items = index_interactions(folder / "interactions.csv", inter["user"].to_numpy(),
                                                inter["item"].to_numpy(), item_ids, line_offset=2)
    n_attributes = int(attrs["attribute"].max()) + 1 if len(attrs) else 0
    indptr, indices = attribute_csr(attrs["item"].to_numpy(), attrs["attribute"].to_numpy(), n_items, n_attributes)
    ds = Dataset(name=name, user_ids=user_ids, item_ids=item_ids, users=users, items=items, ratings=None,
                 attr_indptr=indptr, attr_indices=indices,
                 attribute_names=[f"attribute {j}" for j in range(n_attributes)], positive_threshold=None,
                 root=data_dir)
    present = np.ones(n_items, dtype=bool)
    ds.modalities["image"] = Modality(present=present)
    ds.set_features("image", feats, present, origin=str(feats_path))
    return ds


def attribute_csr(items: np.ndarray, attributes: np.ndarray, n_items: int,
                  n_attributes: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of each item's distinct attributes, ascending (a repeated row of the file counts once)."""
    keys = np.unique(items.astype(np.int64) * max(n_attributes, 1) + attributes)  # sorts by item, then attribute
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // max(n_attributes, 1), minlength=n_items), out=indptr[1:])
    return indptr, keys % max(n_attributes, 1)


def load_preferences(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The planted truth: ``(user ids, prefers_image)`` from ``users.csv``."""
    frame = read_table(data_dir / name / "users.csv", {"user": "int", "prefers_image": "int"}, sep=",", header=True)
    return frame["user"].to_numpy(), frame["prefers_image"].to_numpy().astype(bool)
