"""The inference side of M²VAE: the PoE and MoE posterior over the attribute, image and ID latents (Eq. 3–18)."""

from __future__ import annotations

import pyro
from pyro import poutine
from pyro.nn import PyroModule

from ..data.batch import TripleBatch
from ..module.networks import M2VAENetworks
from ..module.views import Views
from .sites import networks, sample_views


class M2VAEGuide(PyroModule):
    """``q(z_a | a) q(z_c | c) q(z_com | a, c) q(z | e, a, c, u)``, in the same plate as the model.

    The gates (Eq. 11–16) are computed from the drawn views. During training the ID view is dropped for a
    fraction ``id_dropout`` of the triples, so the posterior a cold item gets is trained; ``cold=True`` drops it
    for every example (items without an ID). No factor here: a guide factor would count with the wrong sign.
    """

    def __init__(self, nets: M2VAENetworks):
        super().__init__()
        self.nets = nets

    def forward(self, batch: TripleBatch, views: Views, kl_scale: float = 1.0, cold: bool = False) -> None:
        nets = networks(self)  # not self.nets (see networks)
        user, _ = nets.batch_users(batch, views)  # one lookup of the user table a step
        triples = pyro.plate("triples", batch.size, subsample=batch.index)
        with poutine.scale(scale=kl_scale):
            z_views, z_com = sample_views(nets, views, nets.view_posterior_dist, triples, batch.scale)  # Eq. 3–8
        with triples, poutine.scale(scale=kl_scale):
            if cold:
                pyro.sample("z", nets.cold_dist(views, z_views, z_com, user))
                return
            fused = nets.fuse(views, z_views, z_com, user)  # Eq. 11–16
            has_id = nets.views_id_present(views, user.device)
            prior = nets.prior_dist(views, z_views, z_com, user) if nets.needs_cold_prior() else None
            pyro.sample("z", nets.posterior_dist(views, fused, batch.items, has_id, prior))  # Eq. 17–18
