"""The generative side of M²VAE: view priors, the conditional prior of z, the decoder, the factors (Eq. 19–26)."""

from __future__ import annotations

import pyro
import torch
from pyro import poutine
from pyro.nn import PyroModule

from ..data.batch import TripleBatch
from ..module.networks import M2VAENetworks
from ..module.views import Views
from .sites import networks, sample_views


class M2VAEModel(PyroModule):
    """``p(e, z, z_a, z_c, z_com | a, c) · exp(−Σ factors)``, every site in ``plate("triples", N)`` (the views in
    ``plate("items")`` under ``Config.view_draws = item``: programs/sites.py).

    ``views`` is the encoder pass of the batch, computed once and handed to both programs; ``kl_scale`` weighs
    the latent sites (KL warm-up and weight). The last per-term means, and their weighted sum, are kept for the
    progress display.
    """

    def __init__(self, nets: M2VAENetworks):
        super().__init__()
        self.nets = nets
        self.last_terms: dict[str, torch.Tensor] = {}
        self.last_factor_total = torch.zeros(())

    def forward(self, batch: TripleBatch, views: Views, kl_scale: float = 1.0) -> torch.Tensor:
        nets = networks(self)  # not self.nets (see networks)
        user, _ = nets.batch_users(batch, views)  # one lookup of the user table a step
        triples = pyro.plate("triples", batch.size, subsample=batch.index)
        with poutine.scale(scale=kl_scale):
            z_views, z_com = sample_views(nets, views, nets.view_prior_dist, triples, batch.scale)  # Eq. 23
        with triples:
            with poutine.scale(scale=kl_scale):
                z = pyro.sample("z", nets.prior_dist(views, z_views, z_com, user))  # Eq. 22
            e = nets.id_target(batch.items)
            e_new = pyro.deterministic("e_new", nets.decode(z, views, e), event_dim=1)  # Eq. 19
            mask = nets.likelihood_mask(views)
            with poutine.scale(scale=nets.config.recon_weight), poutine.mask(mask=True if mask is None else mask):
                pyro.sample("e", nets.likelihood_dist(e_new, e, mask), obs=e)  # Eq. 21, 24
            e_rank = nets.ranking_embedding(views, z_views, z_com, user, e_new)
            terms = nets.factor_terms(batch, views, z_views, z_com, e_rank)
            for name, (weight, loss) in terms.items():
                pyro.factor(name, -weight * loss)  # Eq. 9–10, 20, 25, and the warm BPR
        self.last_terms = {k: loss.detach().mean() for k, (_, loss) in terms.items()}
        self.last_factor_total = sum((w * self.last_terms[k] for k, (w, _) in terms.items()), torch.zeros(()))
        return e_new
