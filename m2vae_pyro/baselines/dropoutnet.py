"""DropoutNet (Volkovs, Yu and Poutanen, "DropoutNet: Addressing Cold Start in Recommender Systems", NeurIPS 2017).

Pre-trained preferences ``U_u``, ``V_i`` (BPR-MF on the warm split) go through two networks,
``f_U(U_u)`` and ``f_V([V_i; content_i])``, trained to reproduce the pre-trained scores ``U_u · V_i`` (MSE) while
``V_i`` is dropped out (set to zero) for a fraction of the items (the paper's default: 0.5). A cold item is an item
whose preference input is dropped: ``score = f_U(U_u) · f_V([0; content_i])``. The (item, user) pairs are the
positive and the negative user of each training triple.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..nn.content import ContentEncoder
from .base import Settings, TrainedBaseline, pretrain_mf


class DropoutNet(TrainedBaseline):
    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, dropout: float = 0.5):
        super().__init__(ds, split, settings)
        d, h = settings.d, settings.hidden
        self.dropout = dropout
        self.register_buffer("pref_users", torch.zeros(ds.n_users, d))
        self.register_buffer("pref_items", torch.zeros(ds.n_items, d))
        self.content = ContentEncoder(ds, h, h)
        self.f_user = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, d))
        self.f_item = nn.Sequential(nn.Linear(d + h, h), nn.Tanh(), nn.Linear(h, d))

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        users, items = pretrain_mf(self.ds, sampler, self.settings, progress=progress)
        self.pref_users.copy_(users), self.pref_items.copy_(items)

    def item_vectors(self, items: torch.Tensor, pref: torch.Tensor) -> torch.Tensor:
        return self.f_item(torch.cat([pref, self.content(items)], dim=-1))

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        pref = self.pref_items[batch.items]
        keep = (torch.rand(len(batch.items), 1) >= self.dropout).to(pref.dtype)  # input dropout on preferences
        v = self.item_vectors(batch.items, pref * keep)
        loss = 0.0
        for users in (batch.pos_users, batch.neg_users):
            target = (self.pref_users[users] * pref).sum(-1)
            loss = loss + ((self.f_user(self.pref_users[users]) * v).sum(-1) - target).pow(2).mean()
        return loss

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        v = self.item_vectors(items, torch.zeros(len(items), self.settings.d))
        return self.f_user(self.pref_users[users]) @ v.T


MODEL = DropoutNet
DEFAULTS = dict(lr=1e-3, d=64, dropout=0.5)
GRID = {"lr": [1e-3, 1e-4], "d": [64, 128]}
