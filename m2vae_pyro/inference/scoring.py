"""Exact per-user cold-item scores, vectorised and chunked under a memory budget (DESIGN §5).

Each (user, item) pair gets its own gates and its own decoded ``e_new``. The decoder's first layer is linear in
``z`` and the prior mean is a per-pair mixture of per-item vectors, so ``W_z E[z]`` is the same mixture of the
per-item products ``W_z x_k``; only the activation and the output layer run per pair, and the output layer is
folded into the user vector (``e_u · (W₂ h + b₂) = (W₂ᵀ e_u) · h + b₂ · e_u``).
"""

from __future__ import annotations

import torch

from ..models.priors import Prior
from ..nn.networks import M2VAENetworks


@torch.inference_mode()
def score_pairs(nets: M2VAENetworks, prior: Prior, users: torch.Tensor, items: torch.Tensor,
                memory_mb: int = 64) -> torch.Tensor:
    """``[U, I]`` scores ``e_new(i | u) · e_u`` at the conditional-prior mean (Eq. 19, 22).

    Users are processed in chunks whose ``[users, items, hidden]`` buffer fits ``memory_mb``; the buffer is
    allocated once and reused, and every per-pair step is an in-place op on it or one batched matrix product.
    """
    dec = nets.decoder
    views = nets.views(items)
    user_emb = nets.user_emb(users)
    hidden = dec.z_in.out_features
    base = dec.content_term(views.raw) + dec.z_in.bias  # [I, h]: per-item part of the first layer
    rows = max(1, min(len(users), int(memory_mb * 2**20 // (4 * hidden * max(len(items), 1)))))
    buffer = torch.empty(rows, len(items), hidden, device=base.device)
    out = torch.empty(len(users), len(items), device=base.device)
    proj = None
    for lo in range(0, len(users), rows):
        u = user_emb[lo : lo + rows]
        weights, vectors = prior.mean_terms(nets, views, u)  # [K, U, I], [K, I, d]
        if proj is None:
            proj = vectors @ dec.z_in.weight.T  # [K, I, h]: W_z x_k per item, the same for every chunk
        pre = buffer[: len(u)]
        pre.copy_(base.expand_as(pre))
        for k in range(len(weights)):  # W₁[E z; a; c] + b₁ = base + Σ_k w_k(u, i) W_z x_k(i)
            pre.addcmul_(weights[k].unsqueeze(-1), proj[k].unsqueeze(0))
        if isinstance(dec.act, torch.nn.Tanh):
            torch.tanh_(pre)
        else:
            pre.copy_(dec.act(pre))
        user_out = (u @ dec.out.weight).unsqueeze(-1)  # [U, h, 1]: W₂ᵀ e_u
        out[lo : lo + len(u)] = torch.bmm(pre, user_out).squeeze(-1) + (u @ dec.out.bias)[:, None]
    return out


@torch.inference_mode()
def embed_pairs(nets: M2VAENetworks, prior: Prior, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[U, I, d]`` decoded ``e_new`` for every pair (the plain, unchunked form; for small grids and tests)."""
    views = nets.views(items)
    weights, vectors = prior.mean_terms(nets, views, nets.user_emb(users))
    z = torch.einsum("kui,kid->uid", weights, vectors)
    raw = [r.expand(len(users), -1, -1) for r in views.raw]
    return nets.decoder(z, raw)
