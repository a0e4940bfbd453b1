"""Ranking metrics. One function serves every model: it only sees a score matrix and the ground truth.

Each row of the score matrix is one query (a cold item ranking users in the item-to-user protocol of CCFCRec,
docs/design.md §3; a user ranking cold items in the user-to-item protocol); metrics are averaged over queries.
- ``hr@k``: hits in the top k divided by k (a precision, as CCFCRec computes it);
- ``recall@k``: hits in the top k divided by the number of positives of the query;
- ``ndcg@k``: CCFCRec's variant, DCG over the hits divided by the ideal DCG of the *retrieved* hits
  (1 whenever every hit sits at the top of the list, 0 with no hit);
- ``ndcg_std@k``: the standard NDCG, ideal DCG over ``min(|GT|, k)`` positions.

Ties are broken by candidate index (users or items in ascending index order), in both protocols.
"""

from __future__ import annotations

import numpy as np
import torch

METRICS = ("hr", "recall", "ndcg", "ndcg_std")


def rank_metrics(scores: torch.Tensor, truth: torch.Tensor, ks: tuple[int, ...] = (5, 10, 20)) -> dict[str, float]:
    """``scores``/``truth`` ``[Q, C]`` (queries × candidates, truth bool); rows without any positive are skipped."""
    keep = truth.any(dim=1)
    per = per_query_metrics(scores[keep], truth[keep], ks)
    out: dict[str, float] = {"n_queries": float(keep.sum())}
    return out | {name: float(v.mean()) if len(v) else float("nan") for name, v in per.items()}


def per_query_metrics(scores: torch.Tensor, truth: torch.Tensor, ks: tuple[int, ...] = (5, 10, 20)
                      ) -> dict[str, torch.Tensor]:
    """Every metric of :func:`rank_metrics` per query (row), ``{"hr@5": [Q], ...}``, rows kept as given (a row
    without a positive scores 0, and ``recall``/``ndcg_std`` NaN, there)."""
    kmax = min(max(ks), scores.shape[1])
    # a stable sort: equal scores rank by candidate index (topk would order them by memory layout, so a tied model
    # such as userpop scored differently through two code paths)
    top = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :kmax]
    hits = torch.gather(truth, 1, top).double()  # [I, kmax]
    discount = 1.0 / torch.log2(torch.arange(2, kmax + 2, dtype=torch.float64))
    n_true = truth.sum(dim=1)
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        h = hits[:, :k]
        dcg = (h * discount[:k]).sum(1)
        n_hit = h.sum(1).long()
        ideal_cum = torch.cat([torch.zeros(1, dtype=torch.float64), discount[:k].cumsum(0)])
        retrieved_idcg = ideal_cum[n_hit]
        std_idcg = ideal_cum[torch.clamp(n_true, max=k)]
        out[f"hr@{k}"] = n_hit.double() / k
        out[f"recall@{k}"] = n_hit.double() / n_true
        out[f"ndcg@{k}"] = torch.where(n_hit > 0, dcg / retrieved_idcg.clamp_min(1e-12), 0.0)
        out[f"ndcg_std@{k}"] = dcg / std_idcg
    return out


def truth_matrix(items: np.ndarray, candidates: np.ndarray, pos_users: np.ndarray, pos_items: np.ndarray,
                 n_items: int) -> torch.Tensor:
    """``[len(items), len(candidates)]`` bool: is the candidate user a positive of the item."""
    item_row = np.full(n_items, -1)
    item_row[items] = np.arange(len(items))
    user_col = np.full(int(max(candidates.max(initial=0), pos_users.max(initial=0))) + 1, -1)
    user_col[candidates] = np.arange(len(candidates))
    rows, cols = item_row[pos_items], user_col[pos_users]
    ok = (rows >= 0) & (cols >= 0)
    out = torch.zeros(len(items), len(candidates), dtype=torch.bool)
    out[torch.from_numpy(rows[ok]), torch.from_numpy(cols[ok])] = True
    return out
