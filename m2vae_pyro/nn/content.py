"""Item content as tensors, and the deterministic content encoder the baselines share with M²VAE's parts."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data.dataset import Dataset
from .encoders import AttentionPooling


def attribute_slots(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded attribute ids ``[n_items, L]`` and their mask: the CSR lists as fixed-width slots."""
    lengths = np.diff(ds.attr_indptr)
    width = max(int(lengths.max(initial=0)), 1)
    attrs = np.zeros((ds.n_items, width), dtype=np.int64)
    slot = np.arange(width)[None, :] < lengths[:, None]
    attrs[slot] = ds.attr_indices
    return torch.from_numpy(attrs), torch.from_numpy(slot)


IMAGE_NORMS = ("none", "center_l2")


def image_matrix(features: np.ndarray, present: np.ndarray, norm: str = "none") -> torch.Tensor:
    """The image features the encoders read: as extracted (``none``, Eq. 3 literally) or ``center_l2``.

    ``center_l2`` subtracts the mean feature of the items that have an image and scales each row to unit length
    (rows without an image stay 0). EfficientNet's pooled features are non-negative with a large common mean, so
    raw rows are nearly parallel: on ML-100K seed 0 a linear BPR map of raw content reaches validation HR@5 0.207,
    of centred unit rows 0.242 (docs/paper-map.md). It reads content only, never interactions.
    """
    x = torch.from_numpy(features).float()
    if norm == "none":
        return x
    if norm != "center_l2":
        raise ValueError(f"unknown image normalisation {norm!r}; choose one of {IMAGE_NORMS}")
    has = torch.from_numpy(present)
    if has.any():
        x = x - x[has].mean(0)
    return nn.functional.normalize(x, dim=1) * has[:, None].to(x.dtype)


def dense_content(ds: Dataset, center_images: bool = True) -> torch.Tensor:
    """Content per item as one dense matrix ``[n_items, A (+ D)]``: multi-hot attributes and (when present) image
    features, each block L2-normed — the fixed input of methods that read raw content vectors (the references,
    and baselines whose papers feed a content vector to their networks).

    ``center_images`` subtracts the mean image feature first (:func:`image_matrix`): EfficientNet's pooled
    features share a large positive mean, so raw rows are nearly parallel and their cosine says little.
    """
    blocks = [torch.from_numpy(ds.attribute_matrix())]
    img = ds.modalities.get("image")
    if img is not None and img.features is not None:
        blocks.append(image_matrix(img.features, img.present, "center_l2") if center_images
                      else torch.from_numpy(img.features))
    return torch.cat([nn.functional.normalize(b, dim=1) for b in blocks], dim=1)


class ContentEncoder(nn.Module):
    """``f(a_i, c_i)``: attention-pooled attributes (Eq. 4) and projected image features, then a 2-layer MLP.

    The point estimate of content that the baselines map into the preference space; absent modalities are
    zeros (the MLP sees them as such). Content lives in non-persistent buffers built once from the dataset.
    """

    def __init__(self, ds: Dataset, d_out: int, hidden: int = 256):
        super().__init__()
        attrs, mask = attribute_slots(ds)
        self.register_buffer("item_attrs", attrs, persistent=False)
        self.register_buffer("item_attr_mask", mask, persistent=False)
        self.attr_pool = AttentionPooling(ds.n_attributes, hidden)
        image = ds.modalities.get("image")
        self.has_image = image is not None and image.features is not None
        if self.has_image:
            self.register_buffer("image_features", torch.from_numpy(image.features), persistent=False)
            self.image_proj = nn.Linear(image.features.shape[1], hidden)
        blocks = 2 if self.has_image else 1
        self.mlp = nn.Sequential(nn.Linear(blocks * hidden, hidden), nn.Tanh(), nn.Linear(hidden, d_out))

    def features(self, items: torch.Tensor) -> torch.Tensor:
        """The pooled inputs ``[B, blocks·hidden]`` before the MLP."""
        blocks = [self.attr_pool(self.item_attrs[items], self.item_attr_mask[items])]
        if self.has_image:
            blocks.append(self.image_proj(self.image_features[items]))
        return torch.cat(blocks, dim=-1)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(items))
