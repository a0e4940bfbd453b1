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
                memory_mb: int = 256) -> torch.Tensor:
    """``[U, I]`` scores ``e_new(i | u) · e_u`` at the conditional-prior mean (Eq. 19, 22)."""
    dec = nets.decoder
    views = nets.views(items)
    user_emb = nets.user_emb(users)
    hidden = dec.z_in.out_features
    base = dec.content_term(views.raw) + dec.z_in.bias  # [I, h]: per-item part of the first layer
    bytes_per_pair = 4 * (3 * hidden + 8)
    rows = max(1, int(memory_mb * 2**20 // (bytes_per_pair * max(len(items), 1))))
    out = torch.empty(len(users), len(items))
    for lo in range(0, len(users), rows):
        u = user_emb[lo : lo + rows]
        weights, vectors = prior.mean_terms(nets, views, u)  # [U, I, K], [K, I, d]
        proj = vectors @ dec.z_in.weight.T  # [K, I, h]
        pre = torch.einsum("uik,kih->uih", weights, proj) + base  # W₁[E z; a; c] + b₁ per pair
        user_out = u @ dec.out.weight  # [U, h]: W₂ᵀ e_u
        out[lo : lo + rows] = torch.einsum("uih,uh->ui", dec.act(pre), user_out) + (u @ dec.out.bias)[:, None]
    return out


@torch.inference_mode()
def embed_pairs(nets: M2VAENetworks, prior: Prior, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[U, I, d]`` decoded ``e_new`` for every pair (the plain, unchunked form; for small grids and tests)."""
    views = nets.views(items)
    weights, vectors = prior.mean_terms(nets, views, nets.user_emb(users))
    z = torch.einsum("uik,kid->uid", weights, vectors)
    raw = [r.expand(len(users), -1, -1) for r in views.raw]
    return nets.decoder(z, raw)
