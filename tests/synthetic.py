"""A tiny hand-made dataset for fast model tests (the real-data tests live beside it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from m2vae_pyro.data.dataset import Dataset, Modality, build_csr


def tiny_dataset(n_users: int = 40, n_items: int = 30, n_attrs: int = 6, image_dim: int = 12, image: bool = True,
                 seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n = 400
    keys = rng.choice(n_users * n_items, size=n, replace=False)
    users, items = keys // n_items, keys % n_items
    attrs = [sorted(rng.choice(n_attrs, size=rng.integers(1, 4), replace=False)) for _ in range(n_items)]
    attrs[0] = []  # an item with no attribute (but an image)
    attrs[1] = [0, 2]  # an item with attributes but no image
    attrs[2] = []  # an item with no content at all
    indptr, indices = build_csr(attrs)
    ds = Dataset(name="tiny", user_ids=np.arange(n_users), item_ids=np.arange(n_items), users=users, items=items,
                 ratings=None, attr_indptr=indptr, attr_indices=indices,
                 attribute_names=[f"a{k}" for k in range(n_attrs)], positive_threshold=None)
    if image:
        present = rng.random(n_items) > 0.2
        present[0], present[1], present[2] = True, False, False
        feats = rng.normal(size=(n_items, image_dim)).astype(np.float32)
        ds.modalities["image"] = Modality(present=present)
        ds.set_features("image", feats, present, origin="synthetic")
    return ds


TOKENS = ["red", "blue", "green", "cotton", "wool", "silk", "brand=acme", "brand=zeta"]


def shop_folder(root, n_users=40, n_items=60, held=("h1", "h2", "h3"), seed=0):
    """A small folder with text ids, attribute tokens and precomputed image features; ``held`` items have content
    and no interaction (new items present at training time)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    ids = [f"i{k:02d}" for k in range(n_items)] + list(held)
    attrs = ["|".join(rng.choice(TOKENS, size=rng.integers(1, 4), replace=False)) for _ in ids]
    pd.DataFrame({"item": ids, "attributes": attrs}).to_csv(root / "items.csv", index=False)
    pairs = {(f"u{u}", f"i{i:02d}") for u in range(n_users) for i in rng.choice(n_items, 8, replace=False)}
    inter = pd.DataFrame(sorted(pairs), columns=["user", "item"])
    inter.to_csv(root / "interactions.csv", index=False)
    feats = rng.normal(size=(len(ids), 16)).astype(np.float32)
    np.save(root / "image_features.npy", feats[:-1])  # the last held item has no image
    pd.DataFrame({"item": ids[:-1]}).to_csv(root / "image_items.csv", index=False)
    return root, pd.DataFrame({"item": ids, "attributes": attrs}), feats
