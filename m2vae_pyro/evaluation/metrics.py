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
    top = top_candidates(scores, kmax)
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


def top_candidates(scores: torch.Tensor, k: int) -> torch.Tensor:
    """``[Q, k]`` column indices of each row's ``k`` highest scores, best first, equal scores by ascending index: the
    first ``k`` of a stable descending sort (``torch.topk`` alone orders ties by memory layout, so a tied model such
    as userpop scored differently through two code paths), without sorting whole rows — on an ML-20M-size
    validation (138k candidate users a query) the full sort was two thirds of the pass.

    ``topk``'s set is the sort's wherever no score equal to the row's k-th value lies outside it; in the rows where one
    does, the entries above that value are taken and then the tied ones in index order. The ``k`` are then ordered by
    a stable sort of their ascending indices. Rows with a NaN take the full sort (NaN compares with nothing)."""
    if k <= 0 or scores.shape[0] == 0:
        return torch.zeros(scores.shape[0], max(k, 0), dtype=torch.long, device=scores.device)
    if bool(torch.isnan(scores).any()):
        return torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    values, cols = torch.topk(scores, k, dim=1, sorted=False)
    kth = values.min(dim=1, keepdim=True).values  # [Q, 1]
    crowded = ((scores == kth).sum(dim=1) > (values == kth).sum(dim=1)).nonzero().squeeze(1)
    if len(crowded):  # a tie at the boundary reaches outside topk's set: take the tied entries by index
        sub, sub_kth = scores[crowded], kth[crowded]
        above, tied = sub > sub_kth, sub == sub_kth
        room = k - above.sum(dim=1, keepdim=True)
        chosen = above | (tied & (tied.cumsum(dim=1) <= room))
        cols[crowded] = chosen.nonzero()[:, 1].view(-1, k)
    cols = cols.sort(dim=1).values
    order = torch.sort(torch.gather(scores, 1, cols), dim=1, descending=True, stable=True).indices
    return torch.gather(cols, 1, order)


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
