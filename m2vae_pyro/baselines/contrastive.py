"""Contrastive content ↔ collaborative baselines: CLCRec and CCFCRec, one model in two configurations.

Both learn user embeddings, item ID embeddings and a content encoder jointly, and score a cold item with its
content embedding: ``score = e_u · f(content_i)``.

- ``clcrec`` (Wei et al., "Contrastive Learning for Cold-Start Recommendation", ACM MM 2021): a user–item
  contrastive term (InfoNCE over the positive user, the sampled negative and the other users of the batch) on an
  item representation that is the content embedding for a random half of the items and the ID embedding
  otherwise, plus an item-level contrast between the content and the ID embedding of the same item (λ = 0.5).
- ``ccfcrec`` (Zhou, Zhang and Yang, "Contrastive Collaborative Filtering for Cold-Start Item Recommendation",
  WWW 2023): BPR on both the content branch and the co-occurrence (ID) branch, plus a contrast that pulls the
  content embedding of an item towards the ID embeddings of items that co-occur with it (the ``c_p`` positives of
  the same user) against the ``c_n`` non-co-occurring ones (τ = 0.1). The co-occurrence contrast is M²VAE's
  Eq. 20 with the positive in the denominator (shared code).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.split import ColdStartSplit
from ..nn.content import ContentEncoder
from ..nn.losses import bpr, cooccurrence, in_batch_infonce
from .base import Settings, TrainedBaseline


class ContrastiveCF(TrainedBaseline):
    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, form: str, tau: float,
                 weight: float = 0.5):
        super().__init__(ds, split, settings)
        if form not in ("clcrec", "ccfcrec"):
            raise ValueError(f"unknown contrastive form {form!r}")
        self.form, self.tau, self.weight = form, tau, weight
        d = settings.d
        self.content = ContentEncoder(ds, d, settings.hidden)
        self.items = nn.Embedding(ds.n_items, d)
        self.users = nn.Embedding(ds.n_users, d)
        nn.init.normal_(self.items.weight, std=0.1), nn.init.normal_(self.users.weight, std=0.1)

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        q, e = self.content(batch.items), self.items(batch.items)
        u_pos, u_neg = self.users(batch.pos_users), self.users(batch.neg_users)
        if self.form == "ccfcrec":
            co = cooccurrence(q, self.items(batch.pos_items), self.items(batch.neg_items), self.tau,
                              include_positive=True)
            return (bpr(q, u_pos, u_neg) + bpr(e, u_pos, u_neg) + self.weight * co).mean()
        use_content = (torch.rand(len(batch.items), 1) < 0.5).to(q.dtype)
        item = use_content * q + (1 - use_content) * e
        candidates = torch.cat([u_pos, u_neg])  # [2B, d]: column b is the positive of row b
        logits = item @ candidates.T
        ui = F.cross_entropy(logits, torch.arange(len(item)), reduction="none")
        return ((1 - self.weight) * ui + self.weight * in_batch_infonce(q, e, self.tau)).mean()

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.users(users) @ self.content(items).T
