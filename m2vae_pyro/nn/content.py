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


def image_center(features: np.ndarray, present: np.ndarray) -> torch.Tensor:
    """The mean image feature of the items that have an image (zeros when none has)."""
    x = torch.from_numpy(features).float()
    has = torch.from_numpy(present)
    return x[has].mean(0) if has.any() else x.new_zeros(x.shape[1])


def image_matrix(features: np.ndarray, present: np.ndarray, norm: str = "none",
                 center: torch.Tensor | None = None) -> torch.Tensor:
    """The image features the encoders read: as extracted (``none``, Eq. 3 literally) or ``center_l2``.

    ``center_l2`` subtracts ``center`` (default: the mean feature of the items that have an image,
    :func:`image_center`) and scales each row to unit length (rows without an image stay 0). EfficientNet's
    pooled features are non-negative with a large common mean, so raw rows are nearly parallel: on ML-100K seed 0 a
    linear BPR map of raw content reaches validation HR@5 0.207, of centred unit rows 0.242
    (docs/paper-map.md). It reads content only, never interactions.
    """
    x = torch.from_numpy(features).float()
    if norm == "none":
        return x
    if norm != "center_l2":
        raise ValueError(f"unknown image normalisation {norm!r}; choose one of {IMAGE_NORMS}")
    has = torch.from_numpy(present)
    x = x - (image_center(features, present) if center is None else center)
    return nn.functional.normalize(x, dim=1) * has[:, None].to(x.dtype)


def content_blocks(ds: Dataset, center_images: bool = True) -> list[torch.Tensor]:
    """The blocks of :func:`dense_content`, each L2-normed per row: the multi-hot attributes ``[n_items, A]`` and,
    when present, the image features ``[n_items, D]``."""
    blocks = [torch.from_numpy(ds.attribute_matrix())]
    img = ds.modalities.get("image")
    if img is not None and img.features is not None:
        blocks.append(image_matrix(img.features, img.present, "center_l2") if center_images
                      else torch.from_numpy(img.features))
    return [nn.functional.normalize(b, dim=1) for b in blocks]


def dense_content(ds: Dataset, center_images: bool = True) -> torch.Tensor:
    """Content per item as one dense matrix ``[n_items, A (+ D)]``: multi-hot attributes and (when present) image
    features, each block L2-normed — the fixed input of methods that read raw content vectors (the references,
    and baselines whose papers feed a content vector to their networks).

    ``center_images`` subtracts the mean image feature first (:func:`image_matrix`): EfficientNet's pooled
    features share a large positive mean, so raw rows are nearly parallel and their cosine says little.
    """
    return torch.cat(content_blocks(ds, center_images), dim=1)


class ContentLinear(nn.Linear):
    """A linear layer on :func:`dense_content`, called with item indices: ``dense_content(ds)[items] @ Wᵀ + b``.

    The attribute block is multi-hot with a handful of attributes per item (Amazon: 4–6 of 637–2,277), so its
    product is a weighted sum of a few rows of ``Wᵀ`` (``embedding_bag``) instead of a dense product over every
    attribute column and its backward: the same values up to float summation order, at a fraction of the cost
    (on Amazon Beauty this product over the ~11k distinct items of a CLCRec batch was half of its step). The image
    block, dense, stays a matrix product. Parameters, shapes and initialisation are those of
    ``nn.Linear(dense_content width, out_features)``, so swapping one for the other draws the same weights.
    """

    def __init__(self, ds: Dataset, out_features: int, bias: bool = True):
        attributes, *images = content_blocks(ds)
        super().__init__(attributes.shape[1] + sum(b.shape[1] for b in images), out_features, bias)
        self.n_attributes = attributes.shape[1]
        width = max(int((attributes != 0).sum(1).max()), 1) if attributes.numel() else 0
        # the nonzeros of each row as (value, column) slots; padding slots have value 0
        values, columns = attributes.topk(width, dim=1) if width else (attributes[:, :0], attributes[:, :0].long())
        self.register_buffer("attr_columns", columns, persistent=False)
        self.register_buffer("attr_values", values, persistent=False)
        self.register_buffer("images", images[0] if images else None, persistent=False)

    def forward(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """``[*items.shape, out_features]``; ``items = None``: every item, ``[n_items, out_features]``."""
        if items is not None and items.dim() != 1:
            return self(items.reshape(-1)).view(*items.shape, self.out_features)
        pick = (lambda t: t) if items is None else (lambda t: t[items])
        a = self.n_attributes
        out = nn.functional.embedding_bag(pick(self.attr_columns), self.weight[:, :a].T.contiguous(),
                                          per_sample_weights=pick(self.attr_values), mode="sum") if a else None
        if self.images is not None:
            image = pick(self.images) @ self.weight[:, a:].T
            out = image if out is None else out + image
        if out is None:  # no content at all: the layer is its bias
            out = self.weight.new_zeros(len(pick(self.attr_columns)), self.out_features)
        return out if self.bias is None else out + self.bias


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
