"""Product of experts (Eq. 6–7) and the user-aware hierarchical mixture of experts (Eq. 11–16)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def poe(mu: torch.Tensor, logvar: torch.Tensor, present: torch.Tensor | None = None, eps: float = 1e-8,
        weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian product of experts, in log space.

    Eq. 6: ``T_m = 1 / (exp(logvar_m) + ε)``; Eq. 7: ``μ = Σ μ_m T_m / Σ T_m``, ``logvar = −log Σ T_m``.
    ``mu``/``logvar`` are ``[M, ..., d]``; ``present`` ``[M, ...]`` bool drops absent experts;
    ``weight`` ``[M]`` (positive) scales each precision (the weighted PoE of MVGAE).
    """
    if present is None and mu.shape[0] == 2:  # unbind, not mu[0]: a select's backward writes a zero [2, …] tensor
        return poe_pair(*mu.unbind(0), *logvar.unbind(0), eps=eps, weight=weight)
    log_t = -torch.logaddexp(logvar, logvar.new_tensor(math.log(eps)))  # Eq. 6, log T_m
    if weight is not None:
        log_t = log_t + weight.log().view(-1, *([1] * (log_t.dim() - 1)))
    if present is not None:
        log_t = log_t.masked_fill(~present.unsqueeze(-1), float("-inf"))
    log_total = torch.logsumexp(log_t, dim=0)
    mu_com = (torch.softmax(log_t, dim=0) * mu).sum(dim=0)  # Eq. 7, precision-weighted mean
    return mu_com, -log_total  # Eq. 7, logvar_com = −log Σ T


def poe_pair(mu_0: torch.Tensor, mu_1: torch.Tensor, logvar_0: torch.Tensor, logvar_1: torch.Tensor,
             eps: float = 1e-8, weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`poe` of two experts given apart (Eq. 17's PoE of the ID and fused views), in closed form: the weight of
    the first is ``σ(log T₀ − log T₁)`` and ``log Σ T = log T₁ + softplus(log T₀ − log T₁)`` — the same values as the
    softmax and logsumexp of :func:`poe` in a third of the element-wise passes, forward and backward, and no stacked
    copy of the experts."""
    log_eps = logvar_0.new_tensor(math.log(eps))
    log_t0, log_t1 = -torch.logaddexp(logvar_0, log_eps), -torch.logaddexp(logvar_1, log_eps)  # Eq. 6, log T_m
    if weight is not None:
        log_w = weight.log()
        log_t0, log_t1 = log_t0 + log_w[0], log_t1 + log_w[1]
    diff = log_t0 - log_t1
    return torch.lerp(mu_1, mu_0, torch.sigmoid(diff)), -(log_t1 + F.softplus(diff))  # Eq. 7


class SelfGate(nn.Module):
    """Eq. 11: ``u_v = u ⊙ σ(u W_g^v + b_g^v)``, one gate per modality; identity when disabled (w/o SG)."""

    def __init__(self, d: int, n_modalities: int, enabled: bool = True):
        super().__init__()
        self.enabled = enabled
        self.gates = nn.ModuleList(nn.Linear(d, d) for _ in range(n_modalities))

    def forward(self, user: torch.Tensor) -> list[torch.Tensor]:
        if not self.enabled:
            return [user for _ in self.gates]
        return [user * torch.sigmoid(g(user)) for g in self.gates]


def modality_logits(user_v: torch.Tensor, z_v: torch.Tensor, z_com: torch.Tensor | None,
                    w_v: torch.Tensor, normalise: bool = False) -> torch.Tensor:
    """Eq. 12: ``logit_v = (u_v ⊙ z_v ⊙ z_com) · w_v`` (``z_com`` omitted in the w/o-common variant).

    ``normalise`` puts each factor at unit RMS over its dimensions first (:func:`rms_normalise`).
    """
    if normalise:
        user_v, z_v = rms_normalise(user_v), rms_normalise(z_v)
        z_com = None if z_com is None else rms_normalise(z_com)
    x = user_v * z_v if z_com is None else user_v * z_v * z_com
    return x @ w_v


def rms_normalise(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``x`` over its root-mean-square along the last axis: a three-way product of factors each ~0.1 in size (user
    embeddings at init, view means held near 0 by Eq. 23) is ~1e-3 and its gradient as small, so the gates of Eq. 13
    sit at 1/M; at unit RMS the logit of Eq. 12 is O(1) from the start (``Config.gate_norm``)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def modality_gates(logits: torch.Tensor, present: torch.Tensor, tau: float, dim: int = -1) -> torch.Tensor:
    """Eq. 13: ``softmax(logits / τ)`` over the *present* modalities, the modality axis being ``dim``.

    An item with no content at all gets all-zero gates (its unique view contributes nothing), not NaN.
    """
    return torch.softmax((logits / tau).masked_fill(~present, float("-inf")), dim=dim).nan_to_num(0.0)


def two_modality_gates(user_v: list[torch.Tensor], items_v: list[torch.Tensor], present: torch.Tensor,
                       tau: float) -> torch.Tensor:
    """Eq. 12–13 for every (user, item) pair of two modalities, ``[2, U, I]``: :func:`modality_gates` of the logits
    ``user_v[m] @ items_v[m]ᵀ`` in closed form — a softmax over two is ``σ`` of the logit difference, and the
    difference is one product of the concatenated factors. (The exact scorer's gates: the softmax over a leading
    axis of two, its mask and ``nan_to_num`` were a tenth of its time on an ML-100K-size catalogue.)

    ``present`` ``[2, I]``: an item with one modality gets gate 1 on it, one with none all-zero gates, as
    :func:`modality_gates` gives them.
    """
    diff = torch.cat([user_v[0], -user_v[1]], dim=-1) @ (torch.cat(items_v, dim=-1) / tau).T  # Eq. 12: l_0 − l_1
    first = torch.sigmoid(diff)  # Eq. 13: softmax over two
    both = present[0] & present[1]
    return torch.stack([torch.where(both, first, present[0].to(first.dtype)),
                        torch.where(both, 1.0 - first, present[1].to(first.dtype))])


def mix(gates: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Eq. 14: ``x_unique = Σ_v gate_v x_v``; ``gates`` ``[..., M]``, ``xs`` ``[M, ..., d]``.

    A broadcast product and a sum over the M ≤ 2 modalities: as an einsum this was a batched ``[1, M] @ [M, d]``
    product per example, whose backward cost ~10× more on CPU. The modality axis of ``xs`` is moved next to ``d``
    so that the batch axes of the two broadcast from the right, as the einsum's ``...`` did (a vectorised particle
    axis on the gates only)."""
    return (gates.unsqueeze(-1) * xs.movedim(0, -2)).sum(-2)


class ViewGate(nn.Module):
    """Eq. 15: ``α = σ(MLP(u_tᵀ v_com))`` — a scalar per user (docs/design.md §3: literal, MLP 1→h→1)."""

    def __init__(self, d: int, hidden: int = 16):
        super().__init__()
        self.v_com = nn.Parameter(torch.randn(d) / d**0.5)
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, user: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp((user @ self.v_com).unsqueeze(-1))).squeeze(-1)


def blend(alpha: torch.Tensor, x_com: torch.Tensor, x_unique: torch.Tensor) -> torch.Tensor:
    """Eq. 16: ``x_f = α x_com + (1 − α) x_unique`` (applied to μ and to log σ² alike: a gated Gaussian)."""
    a = alpha.unsqueeze(-1)
    return a * x_com + (1.0 - a) * x_unique


def moe_posterior(mu_e: torch.Tensor, logvar_e: torch.Tensor, mu_f: torch.Tensor, logvar_f: torch.Tensor,
                  how: str = "sum", has_id: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 17: the "simple MoE" of the ID view and the fused feature view (docs/design.md §3).

    ``sum`` as the paper writes it, ``mean`` as the author's code computes it, ``poe`` a product of the two
    experts. ``has_id`` ``[B]`` bool marks the examples whose ID view is present (ID dropout, cold items); where
    it is absent every form reduces to the fused expert alone.
    """
    if how == "sum":
        mu, logvar = mu_e + mu_f, logvar_e + logvar_f
    elif how == "mean":
        mu, logvar = 0.5 * (mu_e + mu_f), 0.5 * (logvar_e + logvar_f)
    elif how == "poe":
        mu, logvar = poe_pair(mu_e, mu_f, logvar_e, logvar_f)
    else:
        raise ValueError(f"unknown combination {how!r} (sum, mean, poe)")
    if has_id is None:
        return mu, logvar
    keep = has_id.unsqueeze(-1)
    return torch.where(keep, mu, mu_f), torch.where(keep, logvar, logvar_f)


def softplus_weight(raw: torch.Tensor) -> torch.Tensor:
    return F.softplus(raw) + 1e-4
