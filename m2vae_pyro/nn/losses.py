"""Per-example losses: disentangled contrastive (Eq. 9–10), co-occurrence (Eq. 20), BPR (Eq. 25)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .similarity import cosine_to_gathered, cosine_to_rows


def _cos_to_many(x: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Cosine of ``x`` ``[B, d]`` with each of ``ys`` ``[B, n, d]`` → ``[B, n]``, as ``F.cosine_similarity``.

    One batched matrix product and two norms: broadcasting ``x`` against ``ys`` in ``F.cosine_similarity``
    materialises ``[B, n, d]`` intermediates whose backward cost ~3× more (a quarter of an Amazon training step).
    """
    dot = (ys @ x.unsqueeze(-1)).squeeze(-1)
    norms = torch.linalg.vector_norm(ys, dim=-1) * torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return dot / norms.clamp_min(1e-8)


def disentangle_view(z_v: torch.Tensor, v: torch.Tensor, z_com: torch.Tensor, tau: float,
                     form: str = "literal") -> torch.Tensor:
    """Eq. 9, per item: positive pair ``(z_v, v_i)``, negatives ``(z_v, z_com,j)``. Shapes ``[B, d]`` → ``[B]``.

    ``literal``: ``−sim(z_v, v_i)/τ + Σ_j sim(z_v, z_com,j)/τ`` (the exp of a sum, as printed);
    ``pairwise``: only the item's own ``z_com``; ``infonce``: ``−log exp(sim⁺/τ) / Σ_j exp(sim_j/τ)``.
    """
    return _disentangle_unit(_unit(z_v), _unit(v), _unit(z_com), tau, form)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-8)


def _disentangle_unit(u_v: torch.Tensor, u: torch.Tensor, u_com: torch.Tensor, tau: float, form: str) -> torch.Tensor:
    """:func:`disentangle_view` on unit vectors: the cosines are dot products."""
    pos = (u_v * u).sum(-1) / tau
    if form == "pairwise":
        return -pos + (u_v * u_com).sum(-1) / tau
    sims = u_v @ u_com.T / tau  # [B, B]
    if form == "literal":
        return -pos + sims.sum(dim=-1)
    if form == "infonce":
        return -pos + torch.logsumexp(sims, dim=-1)
    raise ValueError(f"unknown DCL form {form!r} (literal, pairwise, infonce)")


def disentangle(views: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]], z_com: torch.Tensor,
                tau: float, form: str = "literal") -> torch.Tensor:
    """Eq. 10: ``Σ_v L_{v,com}`` over views ``(z_v, v_i, present_v)``; absent views contribute 0. → ``[B]``.

    Each vector is normalised once (``z_com`` serves every view): the cosines of Eq. 9 up to float rounding, where
    ``F.cosine_similarity`` per pair normalised ``z_v`` twice and ``z_com`` once per view."""
    total = torch.zeros(z_com.shape[:-1], dtype=z_com.dtype, device=z_com.device)
    u_com = _unit(z_com)
    for z_v, v, present in views:
        loss = _disentangle_unit(_unit(z_v), _unit(v), u_com, tau, form)
        total = total + (loss if present is None else loss * present)
    return total


def cooccurrence(e_new: torch.Tensor, e_pos: torch.Tensor, e_neg: torch.Tensor, tau: float = 1.0,
                 include_positive: bool = False) -> torch.Tensor:
    """Eq. 20 per triple: mean over the ``c_p`` positives of ``−log exp(sim⁺) / Σ_{v⁻} exp(sim⁻)``.

    ``e_new`` ``[B, d]``, ``e_pos`` ``[B, c_p, d]``, ``e_neg`` ``[B, c_n, d]`` → ``[B]``. The literal
    denominator holds only negatives; ``include_positive`` adds the positive (InfoNCE).
    """
    return cooccurrence_of_sims(_cos_to_many(e_new, e_pos), _cos_to_many(e_new, e_neg), tau, include_positive)


def cooccurrence_of_items(e_new: torch.Tensor, table: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor,
                          tau: float = 1.0, include_positive: bool = False) -> torch.Tensor:
    """:func:`cooccurrence` with the co-items given as rows of ``table`` (``[B, c_p]``, ``[B, c_n]`` indices): the
    same values up to float summation order, at a quarter of the cost on ML-100K (``nn/similarity.py``)."""
    sims = cosine_to_rows(e_new, table, torch.cat([pos_items, neg_items], dim=-1))
    c_p = pos_items.shape[-1]
    return cooccurrence_of_sims(sims[:, :c_p], sims[:, c_p:], tau, include_positive)


def cooccurrence_of_rows(e_new: torch.Tensor, rows: torch.Tensor, inverse: torch.Tensor, c_p: int, tau: float = 1.0,
                         include_positive: bool = False) -> torch.Tensor:
    """:func:`cooccurrence_of_items` with the distinct co-item rows already looked up (``rows``, and ``inverse``
    ``[B, c_p + c_n]`` their positions: :func:`~.similarity.distinct`). The same values."""
    sims = cosine_to_gathered(e_new, rows, inverse)
    return cooccurrence_of_sims(sims[:, :c_p], sims[:, c_p:], tau, include_positive)


def cooccurrence_of_sims(pos: torch.Tensor, neg: torch.Tensor, tau: float = 1.0,
                         include_positive: bool = False) -> torch.Tensor:
    """Eq. 20 from the cosines ``[B, c_p]`` and ``[B, c_n]`` → ``[B]``."""
    pos = pos / tau
    neg = torch.logsumexp(neg / tau, dim=-1, keepdim=True)  # [B, 1]
    if include_positive:
        neg = torch.logaddexp(neg, pos)
    return (neg - pos).mean(dim=-1)


def bpr(e_new: torch.Tensor, e_user: torch.Tensor, e_neg_user: torch.Tensor) -> torch.Tensor:
    """Eq. 25 per triple, read as ``−log σ(e_new·e_u − e_new·e_u⁻)`` (docs/design.md §2). → ``[B]``."""
    return -F.logsigmoid((e_new * e_user).sum(-1) - (e_new * e_neg_user).sum(-1))


def in_batch_infonce(x: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """``−log exp(sim(x_b, y_b)/τ) / Σ_j exp(sim(x_b, y_j)/τ)`` over the batch (cosine); ``[B, d]`` → ``[B]``.

    The item-level contrast between two views of the same item (CLCRec's content ↔ ID term).
    """
    sims = F.normalize(x, dim=-1, eps=1e-8) @ F.normalize(y, dim=-1, eps=1e-8).T / tau
    return torch.logsumexp(sims, dim=-1) - sims.diagonal()
