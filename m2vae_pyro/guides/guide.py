"""The inference half of M²VAE as a ``PyroModule``: unique views, PoE common view, ID view, MoE posterior."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule

from ..models.model import TripleBatch, latent_names
from ..nn.encoders import LOGVAR_MAX, LOGVAR_MIN
from ..nn.experts import moe_posterior
from ..nn.networks import M2VAENetworks


class M2VAEGuide(PyroModule):
    """``q(z_a | a) q(z_c | c) q(z_com | a, c) q(z | e, a, c, u)`` (Eq. 3–8, 17–18).

    Every site lives in the same ``triples`` plate as the model. Gates are computed from the sampled views,
    exactly as the model does when it replays them. No factor here: a guide factor would count with the
    wrong sign.
    """

    def __init__(self, nets: M2VAENetworks):
        # Local-parameter mode (DESIGN §2): parameters live in the modules, not the global param store.
        pyro.settings.set(module_local_params=True)
        super().__init__()
        self.nets = nets
        self.kl_scale = 1.0

    def forward(self, batch: TripleBatch) -> None:
        nets = self.nets
        views = nets.shared_views(batch.items, batch.cache)
        user = nets.user_emb(batch.pos_users)
        with pyro.plate("triples", batch.size, subsample=batch.index), poutine.scale(scale=self.kl_scale):
            zs = []
            for m, name in enumerate(latent_names(nets)):
                with poutine.mask(mask=views.present[m]):
                    q = dist.Normal(views.mu[m], (0.5 * views.logvar[m]).exp()).to_event(1)
                    zs.append(pyro.sample(name, q))  # Eq. 8
            z_views = torch.stack(zs)
            z_com = None
            if views.mu_com is not None:
                z_com = pyro.sample("z_com", dist.Normal(views.mu_com, (0.5 * views.logvar_com).exp()).to_event(1))
            fused = nets.fuse(views, z_views, z_com, user)  # Eq. 11–16
            mu_e, logvar_e = nets.id_head(nets.item_emb(batch.items))  # Eq. 2
            mu, logvar = moe_posterior(mu_e, logvar_e, fused.mu, fused.logvar)  # Eq. 17
            logvar = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
            pyro.sample("z", dist.Normal(mu, (0.5 * logvar).exp()).to_event(1))  # Eq. 18
