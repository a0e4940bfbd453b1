"""The M²VAE training loss written without Pyro: the test oracle of the model/guide pair and the speed baseline.

It calls the same ``*_dist`` methods and factor terms as the two programs, draws the guide's noise in the guide's
order (``z_a``, ``z_c``, ``z_com``, the ID-dropout mask, ``z``), and adds what ``TraceMeanField_ELBO`` adds: the
analytic KLs of the latent sites (``z_com`` has none), the negative log-likelihood of the observed ``e`` and the
factors, all scaled by ``N / B`` (the views' once per distinct item under ``view_draws = item``).
``tests/test_plain_loss.py`` checks that both give the same value on the same noise.
"""

from __future__ import annotations

import torch
from torch.distributions import kl_divergence

from ..data.batch import TripleBatch
from ..module.networks import M2VAENetworks
from ..module.priors import kl_term


def plain_loss(nets: M2VAENetworks, batch: TripleBatch, kl_scale: float = 1.0) -> torch.Tensor:
    views = nets.views(batch.items)
    user, _ = nets.batch_users(batch, views)
    # once per distinct item, weighted by its examples, as programs/sites.py::sample_views draws them
    per_item = nets.views_drawn_per_item(views)
    drawn = views.of_items() if per_item else views
    weight = views.counts() if per_item else 1.0
    kl_views = torch.zeros((), device=user.device)
    zs = []
    for m in range(nets.n_modalities):
        q = nets.view_posterior_dist(drawn, m)
        zs.append(q.rsample())
        kl_views = kl_views + (kl_divergence(q, nets.view_prior_dist(drawn, m)) * drawn.present[m] * weight).sum()
    z_views = torch.stack(zs)  # Eq. 23 above
    z_com = nets.common_dist(drawn).rsample() if views.mu_com is not None else None
    if per_item:
        z_views = z_views[:, views.row]
        z_com = None if z_com is None else z_com[views.row]
    fused = nets.fuse(views, z_views, z_com, user)
    has_id = nets.views_id_present(views, user.device)
    prior = nets.prior_dist(views, z_views, z_com, user) if nets.needs_cold_prior() else None
    q_z = nets.posterior_dist(views, fused, batch.items, has_id, prior)
    z = q_z.rsample()
    kl = kl_term(q_z, nets.prior_dist(views, z_views, z_com, user), z)  # Eq. 22
    e = nets.id_target(batch.items)
    e_new = nets.decode(z, views, e)
    mask = nets.likelihood_mask(views)
    nll = -nets.config.recon_weight * nets.likelihood_dist(e_new, e, mask).log_prob(e)  # Eq. 21, 24
    nll = nll if mask is None else nll * mask
    e_rank = nets.ranking_embedding(views, z_views, z_com, user, e_new)
    factors = sum(w * loss for w, loss in nets.factor_terms(batch, views, z_views, z_com, e_rank).values())
    return ((kl_scale * kl + nll + factors).sum() + kl_scale * kl_views) * batch.scale
