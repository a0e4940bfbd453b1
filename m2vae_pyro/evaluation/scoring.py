"""Exact per-user cold-item scores, vectorised and chunked under a memory budget (docs/design.md §5).

Each (user, item) pair gets its own gates and its own decoded ``e_new``. The decoder's first layer is linear in
``z`` and the cold path's mean is a per-pair mixture of per-item vectors, so ``W_z E[z]`` is the same mixture of the
per-item products ``W_z x_k``; only the activation and the output layer run per pair, and the output layer is
folded into the user vector (``e_u · (W₂ h + b₂) = (W₂ᵀ e_u) · h + b₂ · e_u``).
"""

from __future__ import annotations

import torch

from ..module.networks import M2VAENetworks

# The per-pair pass (first-layer mixture, activation, output dot) runs on a tile this size so that its buffer
# stays in cache across its K + 2 sweeps: ~2.5× faster than one memory-sized buffer (RESULTS.md).
TILE_BYTES = 4 * 2**20
# Per-pair floats held outside the tile (gate logits, gates, mixture weights, output): sizes the user blocks.
_PAIR_FLOATS = 16


@torch.inference_mode()
def score_pairs(nets: M2VAENetworks, users: torch.Tensor, items: torch.Tensor,
                memory_mb: int = 64) -> torch.Tensor:
    """``[U, I]`` scores ``e_new(i | u) · e_u`` at the mean of the cold path's ``z`` (Eq. 19; ``Config.cold_path``).

    Users go in blocks whose gates and mixture weights fit ``memory_mb``; within a block the per-pair pass runs
    on cache-sized tiles of users with one reused buffer, every step an in-place op over it.
    """
    dec = nets.decoder
    views = nets.views(items)
    user_emb = nets.user_emb(users)
    if dec.residual:
        return _residual_scores(nets, views, user_emb, memory_mb)
    n_users, n_items, hidden = len(users), max(len(items), 1), dec.z_in.out_features
    # tanh(x) = 2σ(2x) − 1, and σ runs ~6× faster than tanh on CPU: the factor 2 goes into the per-item terms
    # and the affine 2s − 1 into the folded output layer, so the per-pair pass is one σ instead of one tanh.
    via_sigmoid = isinstance(dec.act, torch.nn.Tanh)
    scale = 2.0 if via_sigmoid else 1.0
    # [I, h]: the per-item part of the first layer
    base = scale * (dec.content_term(nets.decoder_inputs(views.raw)) + dec.z_in.bias)
    budget = memory_mb * 2**20
    block = max(1, min(n_users, budget // (4 * _PAIR_FLOATS * n_items)))
    tile_bytes = min(TILE_BYTES, budget) if budget else TILE_BYTES
    buffer = torch.empty(max(1, tile_bytes // 4) + hidden, device=base.device)  # the tile, reused
    out = torch.empty(n_users, len(items), device=base.device)
    proj = None
    for lo in range(0, n_users, block):
        u_block = user_emb[lo : lo + block]
        weights, vectors = nets.cold_mean_terms(views, u_block)  # [K, U, I], [K, I, d]
        if proj is None:
            proj = scale * (vectors @ dec.z_in.weight.T)  # [K, I, h]: W_z x_k per item, the same for every block
            # a convex mixture (the fused view's gates sum to 1): Σ_k w_k p_k = p_K + Σ_{k<K} w_k (p_k − p_K), one
            # term fewer, with p_K folded into the per-item part
            convex = len(proj) > 1 and bool(torch.allclose(weights.sum(0), weights.new_ones(()), atol=1e-6))
            if convex:
                base, proj = base + proj[-1], proj[:-1] - proj[-1]
            # item-major: each item's terms are one [K, h] matrix, so an item's first layer over a tile of users is
            # one small matrix product (baddbmm) — one write pass instead of K read-modify-write addcmul passes
            # (a 12-user × 336-item tile: 0.69 against 0.76 ms, benchmarks/RESULTS.md, issue 34)
            base_rows = base.expand(len(items), hidden).unsqueeze(1)  # [I, 1, h] (a z-only decoder's is one row)
            proj_rows = proj.permute(1, 0, 2).contiguous()  # [I, K, h]
        if convex:
            weights = weights[:-1]
        if isinstance(dec.out, torch.nn.Identity):  # a linear decoder: e_new is the first layer's output
            w_out, bias = u_block, u_block.new_zeros(len(u_block))
        else:
            w_out = u_block @ dec.out.weight  # [U, h]: W₂ᵀ e_u
            bias = u_block @ dec.out.bias
        if via_sigmoid:
            bias = bias - w_out.sum(-1)
            w_out = 2.0 * w_out
        w_items = weights.permute(2, 1, 0).contiguous()  # [I, U, K]
        out_items = bias.unsqueeze(0).repeat(len(items), 1)  # [I, U]: item-major like the tiles, transposed once
        n_u = max(1, min(len(u_block), tile_bytes // (4 * hidden)))  # users a tile: the whole block if one item fits
        n_i = max(1, min(len(items), tile_bytes // (4 * hidden * n_u)))
        for u0 in range(0, len(u_block), n_u):
            u1 = min(len(u_block), u0 + n_u)
            for i0 in range(0, len(items), n_i):
                i1 = min(len(items), i0 + n_i)
                pre = buffer[: (i1 - i0) * (u1 - u0) * hidden].view(i1 - i0, u1 - u0, hidden)
                # W₁[E z; a; c] + b₁ = base + Σ_k w_k(u, i) W_z x_k(i), per item a [users, K] × [K, h] product
                if w_items.shape[-1] > 1:
                    torch.baddbmm(base_rows[i0:i1], w_items[i0:i1, u0:u1], proj_rows[i0:i1], out=pre)
                elif w_items.shape[-1]:  # one term: a broadcast multiply-add beats a product over K = 1 (2.3×)
                    torch.addcmul(base_rows[i0:i1], w_items[i0:i1, u0:u1], proj_rows[i0:i1], out=pre)
                else:
                    pre.copy_(base_rows[i0:i1].expand_as(pre))
                if via_sigmoid:
                    torch.sigmoid_(pre)
                else:
                    pre.copy_(dec.act(pre))
                # the folded output layer (an in-place product and a sum: a batched matrix-vector product is 7× slower)
                out_items[i0:i1, u0:u1] += pre.mul_(w_out[u0:u1]).sum(-1)
        out[lo : lo + block] = out_items.T
    return out


def _residual_scores(nets: M2VAENetworks, views, user_emb: torch.Tensor, memory_mb: int) -> torch.Tensor:
    """Scores under ``decoder_z = residual``: ``e_u · (a F_c([a; c]) + E[z])`` with ``E[z] = Σ_k w_k(u, i) x_k(i)``,
    so the decoder runs once per item and the per-pair part is the mixture of per-item dot products."""
    mean = nets.residual_mean(views)  # [I, d]
    n_items = max(mean.shape[0], 1)
    block = max(1, min(len(user_emb), memory_mb * 2**20 // (4 * _PAIR_FLOATS * n_items)))
    out = []
    for lo in range(0, len(user_emb), block):
        u = user_emb[lo : lo + block]
        weights, vectors = nets.cold_mean_terms(views, u)  # [K, U, I], [K, I, d]
        dots = torch.einsum("ud,kid->kui", u, vectors)
        out.append(u @ mean.T + (weights * dots).sum(0))
    return torch.cat(out) if out else user_emb.new_zeros(0, mean.shape[0])


@torch.inference_mode()
def embed_pairs(nets: M2VAENetworks, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[U, I, d]`` decoded ``e_new`` for every pair (the plain, unchunked form; for small grids and tests)."""
    views = nets.views(items)
    weights, vectors = nets.cold_mean_terms(views, nets.user_emb(users))
    z = torch.einsum("kui,kid->uid", weights, vectors)
    if nets.config.decoder_z == "residual":
        return nets.residual_mean(views) + z
    raw = [r.expand(len(users), -1, -1) for r in nets.decoder_inputs(views.raw)]
    return nets.decoder(z, raw)
