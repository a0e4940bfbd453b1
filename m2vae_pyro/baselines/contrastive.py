"""Parts shared by the contrastive baselines: CLCRec's and PAD-CLRec's training examples (a user, its positive
warm item and sampled negative warm items) and contrastive loss, and the candidate similarities that CCFCRec
computes the same way.

Both methods train on what the official CLCRec code (``weiyinwei/CLCRec``, ``Dataset.py``) samples: for each
training positive ``(u, i)``, ``n_neg`` warm items ``u`` has no positive on; the positive is candidate 0. Their
``negatives="users"`` form adds, per positive, ``n_neg`` users without a training positive on ``i``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..data.sampling import TripleSampler
from ..nn.similarity import gathered_dot


@dataclass
class UserItemBatch:
    """``users`` ``[B]``; ``items`` ``[B, 1 + n_neg]`` (column 0 the positive); ``user_items`` ``[B, c_p]``: other
    warm positives of each user (PAD-CLRec's group); ``neg_users`` ``[B, n_neg_users]``: users without a training
    positive on the row's item. The last two are empty when not asked for."""

    users: torch.Tensor
    items: torch.Tensor
    user_items: torch.Tensor
    neg_users: torch.Tensor


class UserItemSampler:
    """Seeded epochs of :class:`UserItemBatch` over a :class:`TripleSampler`'s training positives.

    The negative items and users reuse the sampler's structures and vectorised rejection sampling (a shallow
    copy with ``c_n = n_neg``: nothing is rebuilt); the order of positives is the triples' permutation for
    ``(seed, epoch)``. Negative users are drawn after everything else from the batch's generator, so asking for
    them leaves the other arrays of a batch as they are without.
    """

    def __init__(self, sampler: TripleSampler, n_neg: int, user_items: bool = False, n_neg_users: int = 0):
        self.base = sampler
        self.negatives = copy.copy(sampler)
        self.negatives.c_n = n_neg
        self.user_items = user_items
        self.n_neg_users = n_neg_users

    def epoch(self, seed: int, epoch: int, batch_size: int):
        s = self.base
        perm = np.random.default_rng([seed, epoch]).permutation(len(s))
        for k, lo in enumerate(range(0, len(perm), batch_size)):
            rng = np.random.default_rng([seed, epoch, k])
            users, pos = s.users[perm[lo : lo + batch_size]], s.items[perm[lo : lo + batch_size]]
            items = np.concatenate([pos[:, None], self.negatives.negative_items(rng, users)], axis=1)
            group = s.positive_items(rng, users, pos) if self.user_items else np.zeros((len(users), 0), np.int64)
            neg_users = s.negative_users(rng, pos, self.n_neg_users)
            yield UserItemBatch(*(torch.from_numpy(a) for a in (users, items, group, neg_users)))


def candidate_logits(anchor: torch.Tensor, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``anchor_b · table[index_bk]``: ``[B, d]``, ``[n, d]``, ``[B, K]`` → ``[B, K]``
    (:func:`nn.similarity.gathered_dot`: a full product or a gather by the table's size, a sparse backward)."""
    return gathered_dot(anchor, table, index)


def first_candidate_nce(logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``−log exp(s₀/τ) / Σ_k exp(s_k/τ)``: CLCRec's contrastive loss, candidate 0 the positive. ``[B, K]`` → ``[B]``.

    Similarities are the callers' (CLCRec normalises in its item–item term, not in its user–item term).
    """
    logits = logits / tau
    return torch.logsumexp(logits, dim=-1) - logits[:, 0]
