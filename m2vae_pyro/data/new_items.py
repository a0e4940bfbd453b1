"""Items that arrive after training: their content in a trained model's attribute vocabulary, appended to the
dataset it was trained on — from a file laid out like ``items.csv``, or from a dataset folder that grew since.

A cold-start model scores an item from its content alone, so a trained run scores any item whose content it can
read: its attribute tokens that the training data had (a token it never saw has no learned embedding: it is
dropped, and one warning line counts such tokens) and its image features. New items are appended after the trained
ones, so every index the run knows keeps its meaning.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import Dataset, Modality, build_csr
from .errors import DataError


@dataclass
class NewItems:
    """The content of items a trained model has not seen.

    ``attributes[k]`` are indices into the trained model's vocabulary; ``image`` is ``[k, D]`` raw features (zero
    rows where ``image_present`` is False), ``None`` when no image was given.
    """

    ids: np.ndarray
    attributes: list[np.ndarray]
    image: np.ndarray | None = None
    image_present: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, keep: np.ndarray) -> NewItems:
        """The items where ``keep`` (a bool mask) is True."""
        rows = np.flatnonzero(keep)
        return NewItems(self.ids[rows], [self.attributes[r] for r in rows],
                        None if self.image is None else self.image[rows],
                        None if self.image_present is None else self.image_present[rows])

    def has_content(self) -> np.ndarray:
        """``[k]`` bool: the item has a known attribute or an image."""
        out = np.array([len(a) > 0 for a in self.attributes], dtype=bool)
        return out | (self.image_present if self.image_present is not None else False)


def encode_tokens(tokens: list[list[str]], vocabulary: list[str], origin: Path | str | None) -> list[np.ndarray]:
    """Each item's tokens as vocabulary indices; tokens the vocabulary lacks are dropped with one warning line."""
    lookup = {t: k for k, t in enumerate(vocabulary)}
    unknown = [t for ts in tokens for t in ts if t not in lookup]
    if unknown:
        shown = ", ".join(map(repr, sorted(set(unknown))[:5])) + (" …" if len(set(unknown)) > 5 else "")
        warnings.warn(f"{origin}: {len(unknown)} attribute token(s) the run was not trained on are ignored "
                      f"({len(set(unknown))} distinct: {shown})", stacklevel=2)
    return [np.array(sorted({lookup[t] for t in ts if t in lookup}), dtype=np.int64) for ts in tokens]


def read_new_items(path: Path, vocabulary: list[str], *, images: Path | None = None,
                   image_features: Path | None = None, image_items: Path | None = None,
                   progress: bool = True) -> NewItems:
    """Items from a file laid out like ``items.csv`` (``item``, ``attributes`` and further columns), with their
    images from a folder (``DIR/ITEM.jpg``) or precomputed features (``.npy`` with a CSV of their item ids)."""
    from .folder import image_files, item_tokens, read_image_features, read_items_csv

    ids, frame = read_items_csv(path)
    attributes = encode_tokens(item_tokens(frame), vocabulary, path)
    new = NewItems(ids, attributes)
    if (image_features is None) != (image_items is None):
        raise DataError(image_features or image_items, "--image-features and --image-items go together")
    if images is not None and image_features is not None:
        raise DataError(images, "give images as a folder (--images) or as features (--image-features), not both")
    mod = None
    if image_features is not None:
        mod = read_image_features(image_features, image_items, ids, {str(v): k for k, v in enumerate(ids)},
                                  items_file=str(path))
    elif images is not None:
        if not images.is_dir():
            raise DataError(images, "image folder not found")
        mod = image_files(images, ids)
        if mod is None:
            warnings.warn(f"{images}: no image named after an item of {path.name} (ITEM.jpg, .jpeg or .png)",
                          stacklevel=2)
        else:
            from .images import FEATURE_DIM, cached_features

            rows = np.flatnonzero(mod.present)
            feats, _, _ = cached_features([mod.sources[r] for r in rows], progress=progress)
            mod.features = np.zeros((len(ids), FEATURE_DIM), dtype=np.float32)
            mod.features[rows] = feats
    if mod is not None:
        new.image, new.image_present = mod.features, mod.present
    return new


def new_items_from_frame(frame: pd.DataFrame, vocabulary: list[str],
                         image_features: np.ndarray | None = None) -> NewItems:
    """:class:`NewItems` from a frame laid out like ``items.csv`` (the Python API's form of :func:`read_new_items`);
    ``image_features`` ``[len(frame), D]``, NaN rows for items without an image."""
    from .folder import item_tokens

    missing = [c for c in ("item", "attributes") if c not in frame.columns]
    if missing:
        raise DataError(None, f"new items need the column(s) {', '.join(missing)} (as items.csv)")
    text = frame.astype(str).where(frame.notna(), "")
    new = NewItems(frame["item"].to_numpy(), encode_tokens(item_tokens(text), vocabulary, "new items"))
    if image_features is not None:
        feats = np.asarray(image_features, dtype=np.float32)
        if feats.ndim != 2 or len(feats) != len(frame):
            raise DataError(None, f"image_features: expected [{len(frame)}, D], got {feats.shape}")
        present = np.isfinite(feats).all(axis=1)
        new.image, new.image_present = np.where(present[:, None], feats, 0.0).astype(np.float32), present
    return new


def append_items(ds: Dataset, new: NewItems) -> Dataset:
    """``ds`` with ``new`` appended after its items (no interactions; the interactions are shared, not copied).

    Image features of new items are used when ``ds`` has an image modality; a model trained without images has no
    image path, so their images are then ignored (one warning line)."""
    if not len(new):
        return ds
    clash = np.isin(np.asarray(new.ids, dtype=str), np.asarray(ds.item_ids, dtype=str))
    if clash.any():
        raise DataError(None, f"item {str(new.ids[np.argmax(clash)])!r} is already in {ds.name}: score it by its id")
    new_indptr, new_indices = build_csr(list(new.attributes))
    indptr = np.concatenate([ds.attr_indptr, ds.attr_indptr[-1] + new_indptr[1:]])
    indices = np.concatenate([ds.attr_indices, new_indices])
    ids = np.concatenate([ds.item_ids.astype(object), np.asarray(new.ids, dtype=object)])
    if ids.dtype == object and all(isinstance(v, (int, np.integer)) for v in ids):
        ids = ids.astype(np.int64)
    modalities = {}
    image = ds.modalities.get("image")
    if image is not None:
        if image.features is None:
            raise ValueError("attach the dataset's image features before appending items")
        width = image.features.shape[1]
        feats = np.zeros((len(new), width), dtype=np.float32)
        present = np.zeros(len(new), dtype=bool)
        if new.image is not None:
            if new.image.shape[1] != width:
                raise DataError(None, f"new items' image features have {new.image.shape[1]} columns, the run's "
                                      f"{width}")
            feats, present = new.image, new.image_present
        mod = Modality(present=np.concatenate([image.present, present]))
        mod.features = np.concatenate([image.features, feats])
        modalities["image"] = mod
    elif new.image_present is not None and new.image_present.any():
        warnings.warn(f"the run was trained on {ds.name} without images: the new items' images are ignored",
                      stacklevel=2)
    return Dataset(name=ds.name, user_ids=ds.user_ids, item_ids=ids, users=ds.users, items=ds.items,
                   ratings=ds.ratings, attr_indptr=indptr, attr_indices=indices,
                   attribute_names=list(ds.attribute_names), modalities=modalities,
                   positive_threshold=ds.positive_threshold, root=ds.root, family=ds.family)


def split_grown(ds: Dataset, item_ids, user_ids, vocabulary: list[str]) -> tuple[Dataset, NewItems]:
    """A dataset that grew since a run was trained on part of it: ``(the part, in the run's item order, user order
    and vocabulary; the other items as NewItems)``. Interactions of the other items are not part of the run; a user
    the run does not know is refused (a user is scored by a learned embedding)."""
    text = np.asarray(ds.item_ids, dtype=str)
    position = {v: k for k, v in enumerate(text)}
    trained = np.array([position.get(str(v), -1) for v in item_ids], dtype=np.int64)
    if (trained < 0).any():
        missing = [str(v) for v, k in zip(item_ids, trained, strict=True) if k < 0]
        raise DataError(ds.root, f"the data lack {len(missing)} item(s) the run was trained on "
                                 f"(e.g. {', '.join(missing[:3])}): not the run's data")
    others = np.setdiff1d(np.arange(ds.n_items), trained)
    new_index = np.full(ds.n_items, -1, dtype=np.int64)
    new_index[trained] = np.arange(len(trained))
    keep = new_index[ds.items] >= 0
    user_position = {str(v): k for k, v in enumerate(np.asarray(user_ids, dtype=str))}
    kept_users = np.asarray(ds.user_ids, dtype=str)[ds.users[keep]]
    users = np.array([user_position.get(u, -1) for u in kept_users], dtype=np.int64)
    if (users < 0).any():
        raise DataError(ds.root, f"user {kept_users[np.argmax(users < 0)]!r} rated an item the run was trained on "
                                 "but is not one of the run's users: not the run's data")
    tokens = [[ds.attribute_names[a] for a in ds.item_attributes(i)] for i in range(ds.n_items)]
    vocab = {t: k for k, t in enumerate(vocabulary)}
    unseen = sorted({t for i in trained for t in tokens[i] if t not in vocab})
    if unseen:
        raise DataError(ds.root, f"items the run was trained on have attributes it never saw ({unseen[0]!r}, …): "
                                 "not the run's data")
    indptr, indices = build_csr([[vocab[t] for t in tokens[i]] for i in trained])
    modalities = {}
    image = ds.modalities.get("image")
    if image is not None:
        mod = Modality(present=image.present[trained],
                       sources=None if image.sources is None else [image.sources[i] for i in trained])
        mod.features = None if image.features is None else image.features[trained]
        modalities["image"] = mod
    part = Dataset(name=ds.name, user_ids=np.asarray(user_ids), item_ids=np.asarray(item_ids), users=users,
                   items=new_index[ds.items[keep]], ratings=None if ds.ratings is None else ds.ratings[keep],
                   attr_indptr=indptr, attr_indices=indices, attribute_names=list(vocabulary),
                   modalities=modalities, positive_threshold=ds.positive_threshold, root=ds.root, family=ds.family)
    new = NewItems(ds.item_ids[others], encode_tokens([tokens[i] for i in others], vocabulary, ds.root))
    if image is not None and image.features is not None:
        new.image, new.image_present = image.features[others], image.present[others]
    return part, new


def fingerprint(ds: Dataset) -> str:
    """A hash of what a model is trained on: ids, interactions, ratings, each item's attribute tokens and which items
    have an image (not the features' bits, which differ across machines in the last float digits)."""
    h = hashlib.sha256()
    for ids in (ds.user_ids, ds.item_ids):
        h.update("\x1f".join(map(str, ids.tolist())).encode())
    for arr in (ds.users, ds.items):
        h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    if ds.ratings is not None:
        h.update(np.ascontiguousarray(ds.ratings, dtype=np.float32).tobytes())
    for i in range(ds.n_items):
        h.update(("\x1f".join(sorted(ds.attribute_names[a] for a in ds.item_attributes(i))) + "\x1e").encode())
    image = ds.modalities.get("image")
    if image is not None:
        h.update(np.packbits(image.present).tobytes())
    return h.hexdigest()[:16]
