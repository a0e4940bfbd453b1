"""The M²VAE training loss written without Pyro, for verification and for the speed benchmark.

It draws the guide's noise in the same order as the Pyro guide (``z_a``, ``z_c``, ``z_com``, ``z``) and adds the
same terms as ``TraceMeanField_ELBO`` on the model/guide pair: analytic KLs of the latent sites (``z_com`` has
none), the negative log-likelihood of the observed ``e``, and the three factors, all scaled by ``N / B``.
``tests/test_plain_loss.py`` checks that both give the same value on the same noise.
"""

from __future__ import annotations

import torch
from torch.distributions import Independent, Normal, kl_divergence

from ..models.model import M2VAEModel, TripleBatch
from ..models.priors import kl_term
from ..nn import losses
from ..nn.encoders import LOGVAR_MAX, LOGVAR_MIN
from ..nn.experts import moe_posterior


def plain_loss(model: M2VAEModel, batch: TripleBatch) -> torch.Tensor:
    nets, cfg = model.nets, model.nets.config
    views = nets.views(batch.items)
    user = nets.user_emb(batch.pos_users)
    kl = torch.zeros(len(batch.items))
    zs = []
    for m in range(nets.n_modalities):
        q = Normal(views.mu[m], (0.5 * views.logvar[m]).exp())
        zs.append(q.rsample())
        kl = kl + kl_divergence(q, Normal(0.0, 1.0)).sum(-1) * views.present[m]  # Eq. 23
    z_views = torch.stack(zs)
    z_com = None
    if views.mu_com is not None:
        z_com = Normal(views.mu_com, (0.5 * views.logvar_com).exp()).rsample()
    fused = nets.fuse(views, z_views, z_com, user)
    mu_e, logvar_e = nets.id_head(nets.item_emb(batch.items))
    mu, logvar = moe_posterior(mu_e, logvar_e, fused.mu, fused.logvar)
    q_z = Independent(Normal(mu, (0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)).exp()), 1)
    z = q_z.rsample()
    prior = model.prior.distribution(nets, views, z_views, z_com, user)
    kl = kl + kl_term(q_z, prior, z)  # Eq. 22
    e_new = nets.decode(z, views)
    nll = -Normal(e_new, cfg.obs_scale).log_prob(nets.item_emb(batch.items)).sum(-1)  # Eq. 21, 24
    per_example = model.kl_scale * kl + nll + losses.bpr(e_new, user, nets.user_emb(batch.neg_users))
    if cfg.alpha_dcl and z_com is not None:
        pairs = [(z_views[m], views.raw[m], views.present[m].to(z.dtype)) for m in range(nets.n_modalities)]
        per_example = per_example + cfg.alpha_dcl * losses.disentangle(pairs, z_com, cfg.tau_dcl, cfg.dcl)
    if cfg.beta_co:
        per_example = per_example + cfg.beta_co * losses.cooccurrence(
            e_new, nets.item_emb(batch.pos_items), nets.item_emb(batch.neg_items), cfg.co_tau, cfg.co_include_positive)
    return per_example.sum() * (batch.size / len(batch.items))
