"""Swappable priors over the item latent ``z`` (one interface, chosen by name; docs/design.md §2).

A prior gives the distribution of ``z`` for a batch of training triples (``distribution``: a batch of
distributions with event shape ``[d]``), and its mean as a per-pair mixture of per-item vectors
(``mean_terms``), which is all the exact chunked evaluator needs. The guide, the trainer and the evaluator never
look inside. Priors with parameters (``poe``'s weights live in the shared networks; ``mixture``, ``vamp``) are
modules of the model, so they are trained, checkpointed and resumed with it.

- ``content``: version 2's (docs/design.md) conditional prior ``p(z | a, c)``, an MLP on the raw content (Eq. 22);
- ``residual``: version 3's ``N(0, diag s(a, c)²)`` for the residual ``z`` of ``decoder_z = residual``;
- ``moe``: version 1's conditional prior ``p(z | a, c, u)``, the user-aware hierarchical MoE (Eq. 11–16, 22);
- ``standard``: ``N(0, I)``; content reaches ``e_new`` only through the decoder's ``[a; c]`` input (Eq. 19);
- ``poe``: a weighted product of the three view experts (``z_a``, ``z_c``, ``z_com``), no user;
- ``mixture``: ``K`` learned diagonal Gaussians with learned weights, no conditioning;
- ``vamp``: a VampPrior (Tomczak & Welling 2018): the uniform mixture of the ID encoder (Eq. 2) applied to ``K``
  learned pseudo-item embeddings.

KL terms: ``moe``, ``standard`` and ``poe`` are Gaussian, so ``TraceMeanField_ELBO`` uses the analytic KL;
``mixture`` and ``vamp`` have none, and Pyro falls back to the single-sample estimate ``log q(z) − log p(z)``
(:func:`kl_term` does the same outside Pyro).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyro.distributions as dist
import torch
from torch import nn

from ..nn.encoders import GaussianHead
from ..nn.gaussian import constant_like, normal, standard_normal
from .views import Views

if TYPE_CHECKING:
    from .networks import M2VAENetworks


class Prior(nn.Module):
    """Interface: ``distribution`` for training and sampling, ``mean_terms`` for exact evaluation."""

    name = "base"

    def distribution(self, nets: M2VAENetworks, views: Views, z: torch.Tensor, z_com: torch.Tensor | None,
                     user: torch.Tensor) -> dist.TorchDistribution:
        """``p(z | ·)`` for ``B`` examples: batch shape ``[B]``, event shape ``[d]``. ``z`` are the sampled views."""
        raise NotImplementedError

    def mean_terms(self, nets: M2VAENetworks, views: Views, user: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weights [K, U, I], vectors [K, I, d])`` with ``E[z | u, i] = Σ_k weights[k, u, i] vectors[k, i]``.

        ``views`` hold ``I`` items, ``user`` ``[U, d]``; the view means stand in for the sampled ``z``.
        """
        raise NotImplementedError


def _shared_mean(mean: torch.Tensor, n_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean_terms`` of a prior whose mean does not depend on the user: ``mean`` ``[I, d]``."""
    return torch.ones(1, n_users, mean.shape[0], dtype=mean.dtype, device=mean.device), mean[None]


def fused_mean_terms(nets: M2VAENetworks, views: Views, user: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean of the fused view (Eq. 14–16) for every (user, item) pair, as ``mean_terms`` returns it.

    It is the mean of version 1's prior and of version 2's guide without the ID view (the cold path ``guide``).
    """
    n_users, n_items = user.shape[0], views.mu.shape[1]
    if nets.config.fusion == "weighted_poe":
        return _shared_mean(nets.weighted_poe(views)[0], n_users)
    gates = nets.pair_modality_weights(views, user)  # [M, U, I]
    if views.mu_com is None:
        return gates, views.mu
    alpha = nets.view_weight(user)[None, :, None]  # [1, U, 1]
    weights = gates.new_empty(1 + len(gates), n_users, n_items)  # Eq. 16 over Eq. 14, written in place (no cat)
    weights[0] = alpha[0]
    torch.mul(gates, 1 - alpha, out=weights[1:])
    return weights, torch.cat([views.mu_com[None], views.mu])


class ContentPrior(Prior):
    """Version 2's conditional prior ``p_θ(z | a, c)`` (Eq. 22; docs/design.md): an MLP on the raw content
    ``[a_i; c_i]``.

    It sees no user and no ID, so the KL of Eq. 22 charges the posterior only for what the ID view and the
    user's gates add to what the content already predicts (the author's ``fc2 → mean_p, log_p``).
    """

    name = "content"

    def __init__(self, d_content: int, d: int, hidden: int):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(d_content, hidden), nn.Tanh())
        self.head = GaussianHead(hidden, d)

    def params(self, nets: M2VAENetworks, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, log σ²)`` of the batch, once per distinct item of the encoder pass (the model's KL, the guide's cold
        path and the ranking embedding each ask for them)."""
        return views.per_item("content_prior",
                              lambda _, raw: self.head(self.hidden(nets.latent_input(torch.cat(raw, dim=-1)))))

    def distribution(self, nets, views, z, z_com, user):
        return normal(*self.params(nets, views))  # Eq. 22

    def mean_terms(self, nets, views, user):
        return _shared_mean(self.params(nets, views)[0], user.shape[0])


RESIDUAL_LOGVAR = 2 * math.log(0.1)  # log σ² at the item embeddings' initial sd (networks.py: normal_(std=0.1))


class ResidualPrior(ContentPrior):
    """Version 3's conditional prior of the residual ``z`` (``decoder_z = residual``): ``N(0, diag s(a, c)²)``.

    The content path of the decoder owns the mean of ``e_new`` (trained by the ranking terms), so the prior has none;
    its scale, an MLP on the raw content, is the spread of ``e_i`` around that mean that the item's content leaves
    open — the uncertainty of a new item, fitted by the KL of Eq. 22 to the posterior codes of the warm items.
    """

    name = "residual"

    def __init__(self, d_content: int, d: int, hidden: int):
        super().__init__(d_content, d, hidden)
        # the spread starts at the item embeddings' initial sd (0.1): a log-variance learns ~1e-3 a step under Adam,
        # so from 0 (sd 1) it could not reach the residuals' scale within a 40-epoch budget
        nn.init.constant_(self.head.logvar.bias, RESIDUAL_LOGVAR)

    def params(self, nets: M2VAENetworks, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        _, logvar = super().params(nets, views)
        return constant_like(logvar, 0.0), logvar

    def mean_terms(self, nets, views, user):
        return _shared_mean(torch.zeros_like(views.mu[0]), user.shape[0])


class MoEPrior(Prior):
    """Version 1's conditional prior: the user-aware hierarchical MoE of the views (Eq. 11–16, 22)."""

    name = "moe"

    def distribution(self, nets, views, z, z_com, user):
        fused = nets.fuse(views, z, z_com, user)
        return normal(fused.mu, fused.logvar)  # Eq. 22

    def mean_terms(self, nets, views, user):
        return fused_mean_terms(nets, views, user)


class StandardPrior(Prior):
    """``N(0, I)``."""

    name = "standard"

    def distribution(self, nets, views, z, z_com, user):
        return standard_normal(views.mu[0])

    def mean_terms(self, nets, views, user):
        return _shared_mean(torch.zeros_like(views.mu[0]), user.shape[0])


class PoEPrior(Prior):
    """A weighted PoE of the unique and common view experts (the weighted-PoE fusion used as a prior)."""

    name = "poe"

    def distribution(self, nets, views, z, z_com, user):
        return normal(*nets.weighted_poe(views))

    def mean_terms(self, nets, views, user):
        return _shared_mean(nets.weighted_poe(views)[0], user.shape[0])


class MixturePrior(Prior):
    """``Σ_k π_k N(μ_k, diag σ_k²)`` with learned ``π``, ``μ``, ``σ`` (``K`` components)."""

    name = "mixture"

    def __init__(self, d: int, k: int = 16):
        super().__init__()
        self.loc = nn.Parameter(torch.randn(k, d))
        self.logvar = nn.Parameter(torch.zeros(k, d))
        self.logits = nn.Parameter(torch.zeros(k))

    def components(self, nets: M2VAENetworks) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loc, self.logvar

    def _mixture(self, nets: M2VAENetworks, batch: int) -> dist.TorchDistribution:
        loc, logvar = self.components(nets)
        mix = dist.Categorical(logits=self.logits.expand(batch, -1))
        comp = dist.Normal(loc.expand(batch, -1, -1), (0.5 * logvar).exp().expand(batch, -1, -1)).to_event(1)
        return dist.MixtureSameFamily(mix, comp)

    def distribution(self, nets, views, z, z_com, user):
        return self._mixture(nets, views.mu.shape[1])

    def mean_terms(self, nets, views, user):
        loc, _ = self.components(nets)
        mean = torch.softmax(self.logits, 0) @ loc
        return _shared_mean(mean.expand(views.mu.shape[1], -1), user.shape[0])


class VampPrior(MixturePrior):
    """The ID encoder (Eq. 2) applied to ``K`` learned pseudo-item embeddings, mixed uniformly."""

    name = "vamp"

    def __init__(self, d: int, k: int = 16):
        nn.Module.__init__(self)
        self.pseudo_items = nn.Parameter(torch.randn(k, d) * 0.1)  # as the item embeddings are initialised
        self.register_buffer("logits", torch.zeros(k))

    def components(self, nets):
        return nets.id_head(self.pseudo_items)


PRIORS: dict[str, type[Prior]] = {"content": ContentPrior, "residual": ResidualPrior, "moe": MoEPrior,
                                  "standard": StandardPrior,
                                  "poe": PoEPrior, "mixture": MixturePrior, "vamp": VampPrior}


def make_prior(name: str, nets: M2VAENetworks) -> Prior:
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    cls, cfg = PRIORS[name], nets.config  # nets: the owner under construction (config and sizes are set)
    if issubclass(cls, ContentPrior):
        return cls(cfg.d * nets.n_modalities, cfg.d, cfg.prior_hidden)
    return cls(cfg.d) if issubclass(cls, MixturePrior) else cls()


def kl_term(q: dist.TorchDistribution, p: dist.TorchDistribution, z: torch.Tensor) -> torch.Tensor:
    """``KL(q ‖ p)`` as ``TraceMeanField_ELBO`` computes it: analytic when registered, else ``log q(z) − log p(z)``."""
    try:
        return torch.distributions.kl_divergence(q, p)
    except NotImplementedError:
        return q.log_prob(z) - p.log_prob(z)
