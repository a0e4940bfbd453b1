"""The evaluation protocol shared by every model (item-to-user, CCFCRec; DESIGN §3)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.dataset import Dataset
from ..data.split import ColdStartSplit
from .metrics import rank_metrics, truth_matrix

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (users [U], items [I]) → scores [U, I]


def candidate_users(split: ColdStartSplit) -> np.ndarray:
    """The users a cold item is ranked over: every user with a training positive."""
    return np.unique(split.train_users)


def evaluate_item_to_user(score: ScoreFn, ds: Dataset, split: ColdStartSplit, role: str,
                          ks: tuple[int, ...] = (5, 10, 20), item_chunk: int = 512) -> dict[str, float]:
    """For each cold item of ``role`` rank all candidate users; metrics averaged over items."""
    items = split.items(role)
    users = candidate_users(split)
    pos_users, pos_items = split.positives(role)
    truth = truth_matrix(items, users, pos_users, pos_items, ds.n_items)
    users_t = torch.from_numpy(users)
    scores = torch.cat([score(users_t, torch.from_numpy(items[lo : lo + item_chunk])).T
                        for lo in range(0, len(items), item_chunk)])
    return rank_metrics(scores.float(), truth, ks)
