"""A batch of training triples as tensors: a data type, with no model state."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .sampling import Triples


@dataclass
class TripleBatch:
    """A :class:`Triples` batch as tensors; ``size`` is the number of training triples (the plate's size)."""

    index: torch.Tensor
    items: torch.Tensor
    pos_users: torch.Tensor
    neg_users: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor
    size: int
    # (item, user) pairs for posterior draws (``of_pairs``): no ranking or contrastive term applies to them
    pairs_only: bool = False

    @property
    def scale(self) -> float:
        """``N / B``: the weight of each example of the batch in the full-data ELBO (the plate's subsample scale)."""
        return self.size / len(self.index)

    @classmethod
    def from_triples(cls, t: Triples, size: int, device: torch.device | str = "cpu") -> TripleBatch:
        def as_t(x):
            return torch.from_numpy(x).to(device, non_blocking=True)

        return cls(as_t(t.index), as_t(t.items), as_t(t.pos_users), as_t(t.neg_users), as_t(t.pos_items),
                   as_t(t.neg_items), size)

    @classmethod
    def of_pairs(cls, items: torch.Tensor, users: torch.Tensor) -> TripleBatch:
        """(item, user) pairs as a batch with no negatives and no co-occurrence items (for posterior draws: the model
        adds no factor for them, whose in-batch contrast would cost O(pairs²) and mean nothing)."""
        empty = torch.zeros(len(items), 0, dtype=torch.long, device=items.device)
        return cls(torch.arange(len(items), device=items.device), items, users, users, empty, empty, len(items),
                   pairs_only=True)
