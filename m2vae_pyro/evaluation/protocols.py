"""The one evaluator every model goes through, with two protocols over the same cold items.

- ``item-to-user`` (CCFCRec, docs/design.md §3, the paper's): each cold item ranks every candidate user;
- ``user-to-item``: each user with a positive among the cold items ranks all cold items of the role.

A model is only a score function ``(users [U], items [I]) → [U, I]``; scores are computed in chunks of items.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.dataset import Dataset
from ..data.split import ColdStartSplit
from .metrics import rank_metrics, truth_matrix

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (users [U], items [I]) → scores [U, I]
PROTOCOLS = ("item-to-user", "user-to-item")


def candidate_users(split: ColdStartSplit) -> np.ndarray:
    """The users a cold item is ranked over: every user with a training positive."""
    return np.unique(split.train_users)


def evaluate(score: ScoreFn, ds: Dataset, split: ColdStartSplit, role: str, ks: tuple[int, ...] = (5, 10, 20),
             protocol: str = "item-to-user", item_chunk: int = 512) -> dict[str, float]:
    """Metrics of ``score`` on the cold items of ``role`` (see :mod:`.metrics` for their definitions)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    items = split.items(role)
    users = candidate_users(split)
    pos_users, pos_items = split.positives(role)
    truth = truth_matrix(items, users, pos_users, pos_items, ds.n_items)  # [I, U]
    # a cold positive of a user with no training positive cannot be ranked (the user is no candidate): counted
    unrankable = int(len(pos_users) - np.isin(pos_users, users).sum())
    users_t = torch.from_numpy(users)
    scores = torch.cat([score(users_t, torch.from_numpy(items[lo : lo + item_chunk])).T
                        for lo in range(0, len(items), item_chunk)])  # [I, U]
    if protocol == "user-to-item":
        scores, truth = scores.T, truth.T
    return rank_metrics(scores.float(), truth, ks) | {"n_unrankable_positives": float(unrankable)}
