"""What every model in a comparison is: fitted on the warm split, then a score function over (user, cold item).

``Recommender`` is the interface the experiment harness sees (M²VAE's facade satisfies it too); ``TrainedBaseline``
is what the learned baselines share: each is a training plan (``train/plan.py``) that the one training loop
(``train/trainer.py``, M²VAE's too) runs — the same seeded triples as M²VAE (same split, same negative users), Adam,
and the epoch chosen on validation cold items by HR@5 with early stopping, never on test; resumable, NaN-checked.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from ..budget import Budget
from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.errors import DataError
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..evaluation.protocols import evaluate
from ..train.trainer import History, Trainer, seed_everything


class Recommender(Protocol):
    def fit(self, progress: bool = True) -> History: ...

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``[U, I]`` scores of user and item indices ``0..n-1``."""


@dataclass
class Settings(Budget):
    """The learned baselines' settings: the training budget (:class:`Budget`, M²VAE's too) and the sizes and
    triples they share (the paper: batch 1024, 64-d preferences)."""

    epochs: int = 30
    patience: int = 5
    d: int = 64
    hidden: int = 256
    c_p: int = 10
    c_n: int = 40


class FixedScorer:
    """An untrained reference (``random``, ``userpop``, ``content_activity``) as a :class:`Recommender`."""

    def __init__(self, score):
        self.score_indices = score

    def fit(self, progress: bool = True) -> History:
        return History(best_epoch=0)


class TrainedBaseline(nn.Module):
    """Subclasses define ``loss(batch) → scalar`` and ``score_indices(users, items) → [U, I]`` (called in eval mode);
    optionally :meth:`prepare` (pre-training) and :meth:`batches` (examples other than M²VAE's triples).

    As a training plan, the baseline is its own ``module``: the trainer checkpoints and keeps its ``state_dict``.
    """

    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings):
        super().__init__()
        if settings.device != "cpu":  # refused, not dropped: the baselines build their tensors on the CPU
            raise DataError(None, f"{type(self).__name__}: the baselines train on the CPU only "
                                  f"(device = {settings.device!r})")
        seed_everything(settings.seed)
        self.ds, self.split, self.settings = ds, split, settings
        self.history: History | None = None
        self._sampler: TripleSampler | None = None
        self._prepared = False

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        """Work before the main loop (pre-training); nothing by default."""

    def batches(self, sampler: TripleSampler, epoch: int) -> Iterable:
        """One epoch of training batches, each handed to :meth:`loss`: by default M²VAE's seeded triples.

        A method trained on other examples (e.g. a user with sampled negative *items*) overrides this; whatever it
        samples is drawn vectorised per batch from structures built once (in ``__init__`` or :meth:`prepare`), by
        generators seeded by ``(seed, epoch)`` (never the global random state: a resumed run skips batches).
        """
        s = self.settings
        for triples in sampler.epoch(s.seed, epoch, s.batch_size):
            yield TripleBatch.from_triples(triples, len(sampler))

    # -- the training plan (train/plan.py) ----------------------------------------------------------------
    @property
    def module(self) -> nn.Module:
        return self

    @property
    def sampler(self) -> TripleSampler:
        if self._sampler is None:
            s = self.settings
            self._sampler = TripleSampler(self.split, self.ds.n_users, self.ds.n_items, s.c_p, s.c_n)
        return self._sampler

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def n_batches(self) -> int | None:
        return None  # the streams differ per method; the progress bar counts without a total

    def epoch_batches(self, epoch: int, start: int) -> Iterator:
        return itertools.islice(self.batches(self.sampler, epoch), start, None)

    def training_step(self, batch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.loss(batch)
        return loss, {"loss": float(loss.detach())}

    def validate(self) -> float:
        return self.evaluate("validation", (5,))["hr@5"]

    def trainer(self, progress: bool = True, on_improve=None) -> Trainer:
        """The one training loop on this baseline, after its pre-training (once: a resumed run loads its state over
        a prepared model)."""
        if not self._prepared:
            import pyro

            with pyro.validation_enabled(False):  # as the loop: argument checks cost ~10% of an MVGAE step
                self.prepare(self.sampler, progress)
            self._prepared = True
        return Trainer(self, self.settings, on_improve=on_improve, progress=progress)

    def fit(self, progress: bool = True, on_improve=None) -> History:
        self.history = self.trainer(progress, on_improve).run()
        return self.history

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
