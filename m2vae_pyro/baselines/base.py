"""What every model in a comparison is: fitted on the warm split, then a score function over (user, cold item).

``Recommender`` is the interface the experiment harness sees (M²VAE's facade satisfies it too); ``TrainedBaseline``
is the shared loop of the learned baselines: the same seeded triples as M²VAE (same split, same negative users),
Adam, and the epoch chosen on validation cold items by HR@5 with early stopping — never on test.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..evaluation.protocols import evaluate
from ..train.trainer import seed_everything


class Recommender(Protocol):
    def fit(self, progress: bool = True) -> dict: ...

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``[U, I]`` scores of user and item indices ``0..n-1``."""


@dataclass
class Settings:
    """Optimisation settings shared by the learned baselines (the paper: batch 1024, 64-d preferences)."""

    d: int = 64
    hidden: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    epochs: int = 30
    patience: int = 5
    c_p: int = 10
    c_n: int = 40
    seed: int = 0


class FixedScorer:
    """An untrained reference (``random``, ``userpop``, ``content_activity``) as a :class:`Recommender`."""

    def __init__(self, score):
        self.score_indices = score

    def fit(self, progress: bool = True) -> dict:
        return {"best_epoch": 0}


class TrainedBaseline(nn.Module):
    """Subclasses define ``loss(batch) → scalar`` and ``score_indices(users, items) → [U, I]`` (called in eval mode)."""

    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings):
        super().__init__()
        seed_everything(settings.seed)
        self.ds, self.split, self.settings = ds, split, settings

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        """Work before the main loop (pre-training); nothing by default."""

    def batches(self, sampler: TripleSampler, epoch: int):
        """One epoch of training batches, each handed to :meth:`loss`: by default M²VAE's seeded triples.

        A method trained on other examples (e.g. a user with sampled negative *items*) overrides this; whatever it
        samples is drawn vectorised per batch from structures built once (in ``__init__`` or :meth:`prepare`).
        """
        s = self.settings
        for triples in sampler.epoch(s.seed, epoch, s.batch_size):
            yield TripleBatch.from_triples(triples, len(sampler))

    def fit(self, progress: bool = True) -> dict:
        import pyro

        # as M²VAE's trainer: argument checks cost ~10% of an MVGAE step on Beauty
        with pyro.validation_enabled(False):
            return self._fit(progress)

    def _fit(self, progress: bool) -> dict:
        from tqdm.auto import tqdm

        s = self.settings
        sampler = TripleSampler(self.split, self.ds.n_users, self.ds.n_items, s.c_p, s.c_n)
        self.prepare(sampler, progress)
        optim = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=s.lr,
                                 weight_decay=s.weight_decay, fused=True)  # one kernel, as in the SVI loop
        best, best_epoch, best_state, stale = -math.inf, 0, None, 0
        for epoch in tqdm(range(s.epochs), disable=not progress, leave=False, desc=type(self).__name__):
            self.train()
            for batch in self.batches(sampler, epoch):
                loss = self.loss(batch)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
            hr = self.evaluate("validation", (5,))["hr@5"]
            if hr > best:
                best, best_epoch, best_state, stale = hr, epoch + 1, copy.deepcopy(self.state_dict()), 0
            else:
                stale += 1
                if stale >= s.patience:
                    break
        if best_state is not None:
            self.load_state_dict(best_state)
        self.eval()
        return {"best_epoch": best_epoch, "best_val_hr@5": best}

    def evaluate(self, role: str, ks: tuple[int, ...], protocol: str = "item-to-user") -> dict[str, float]:
        self.eval()
        with torch.inference_mode():
            return evaluate(self.score_indices, self.ds, self.split, role, ks, protocol)


def warm_item_batches(n_warm: int, seed: int, epoch: int, size: int) -> Iterator[torch.Tensor]:
    """One epoch of positions ``0..n_warm-1`` of the warm items, shuffled by ``(seed, epoch)``, in ``⌈n/size⌉``
    near-equal batches (never a batch of one when ``n_warm > 1``: BatchNorm needs two rows)."""
    order = np.random.default_rng([seed, epoch]).permutation(n_warm)
    for part in np.array_split(order, max(1, math.ceil(n_warm / size))):
        yield torch.from_numpy(part)


def pretrain_mf(ds: Dataset, sampler: TripleSampler, settings: Settings, epochs: int = 20,
                progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """BPR-MF on the warm split (users ranked per item, as everywhere here): frozen ``(users, items)`` embeddings.

    The pre-trained preference space of DropoutNet and GoRec (the paper: 64-d). Cold items get no row worth
    using: their embeddings never receive a gradient.
    """
    from tqdm.auto import tqdm

    from ..nn.losses import bpr

    users, items = nn.Embedding(ds.n_users, settings.d), nn.Embedding(ds.n_items, settings.d)
    nn.init.normal_(users.weight, std=0.1), nn.init.normal_(items.weight, std=0.1)
    optim = torch.optim.Adam([users.weight, items.weight], lr=1e-2, fused=True)
    for epoch in tqdm(range(epochs), disable=not progress, leave=False, desc="BPR-MF pre-training"):
        for t in sampler.epoch(settings.seed + 10_000, epoch, settings.batch_size):
            b = TripleBatch.from_triples(t, len(sampler))
            v = items(b.items)
            loss = bpr(v, users(b.pos_users), users(b.neg_users)).mean() + 1e-4 * v.pow(2).sum(-1).mean()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
    return users.weight.detach().clone(), items.weight.detach().clone()
