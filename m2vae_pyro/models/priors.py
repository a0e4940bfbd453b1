"""Swappable priors over ``z`` (one interface, chosen by name).

A prior gives the distribution of the item latent ``z`` given the item's views and the target user
(the conditional prior ``p(z | a, c, u)`` of Eq. 22), and its mean as a per-pair mixture of per-item vectors
(``mean_terms``), which is what the exact chunked evaluator needs.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.networks import M2VAENetworks, Views


class Prior(nn.Module):
    """Interface: ``z_loc_scale`` for training/sampling, ``mean_terms`` for exact evaluation."""

    name = "base"

    def z_loc_scale(self, nets: M2VAENetworks, views: Views, z: torch.Tensor, z_com: torch.Tensor | None,
                    user: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def mean_terms(self, nets: M2VAENetworks, views: Views, user: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weights [K, U, I], vectors [K, I, d])`` with ``E[z | u, i] = Σ_k weights[k, u, i] vectors[k, i]``.

        ``views`` hold ``I`` items, ``user`` ``[U, d]``; the view means stand in for the sampled ``z``.
        """
        raise NotImplementedError


class MoEPrior(Prior):
    """The paper's conditional prior: the user-aware hierarchical MoE of the views (Eq. 11–16, 22)."""

    name = "moe"

    def z_loc_scale(self, nets, views, z, z_com, user):
        fused = nets.fuse(views, z, z_com, user)
        return fused.mu, torch.exp(0.5 * fused.logvar)

    def mean_terms(self, nets, views, user):
        n_users, n_items = user.shape[0], views.mu.shape[1]
        if nets.config.fusion == "weighted_poe":
            mu = nets.fuse(views, views.mu, views.mu_com, user[:1].expand(n_items, -1)).mu
            return torch.ones(1, n_users, n_items, dtype=mu.dtype), mu[None]
        gates = nets.pair_modality_weights(views, user)  # [M, U, I]
        if views.mu_com is None:
            return gates, views.mu
        alpha = nets.view_weight(user)[None, :, None]  # [1, U, 1]
        weights = torch.cat([alpha.expand(-1, -1, n_items), (1 - alpha) * gates])  # Eq. 16 over Eq. 14
        return weights, torch.cat([views.mu_com[None], views.mu])


class StandardPrior(Prior):
    """``N(0, I)``: the content reaches ``e_new`` only through the decoder's ``[a; c]`` input."""

    name = "standard"

    def z_loc_scale(self, nets, views, z, z_com, user):
        zeros = torch.zeros_like(views.mu[0])
        return zeros, torch.ones_like(zeros)

    def mean_terms(self, nets, views, user):
        n_items = views.mu.shape[1]
        return torch.zeros(1, user.shape[0], n_items, dtype=user.dtype), torch.zeros_like(views.mu[:1])


PRIORS: dict[str, type[Prior]] = {"moe": MoEPrior, "standard": StandardPrior}


def make_prior(name: str) -> Prior:
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    return PRIORS[name]()
