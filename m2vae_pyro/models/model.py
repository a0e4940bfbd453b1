"""The generative half of M²VAE as a ``PyroModule``: priors over the views, conditional prior, decoder, factors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule

from ..data.sampling import Triples
from ..nn import losses
from ..nn.networks import M2VAENetworks
from .priors import Prior


@dataclass
class TripleBatch:
    """A :class:`Triples` batch as tensors; ``size`` is the number of training triples (plate size)."""

    index: torch.Tensor
    items: torch.Tensor
    pos_users: torch.Tensor
    neg_users: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor
    size: int
    cache: dict = field(default_factory=dict, repr=False)  # encoder outputs shared by guide and model

    @classmethod
    def from_triples(cls, t: Triples, size: int, device: torch.device | str = "cpu") -> TripleBatch:
        def as_t(x):
            return torch.from_numpy(x).to(device, non_blocking=True)

        return cls(as_t(t.index), as_t(t.items), as_t(t.pos_users), as_t(t.neg_users), as_t(t.pos_items),
                   as_t(t.neg_items), size)


def latent_names(nets: M2VAENetworks) -> list[str]:
    return ["z_a", "z_c"][: nets.n_modalities]


class M2VAEModel(PyroModule):
    """``p(e, z, z_a, z_c, z_com | a, c, u)`` with the BPR, DCL and co-occurrence factors (Eq. 21–26).

    Sites, all inside ``plate("triples", N, subsample=index)``: ``z_a``, ``z_c`` ~ N(0, I) (Eq. 23);
    ``z_com`` ~ the same PoE as in the guide (no KL); ``z`` ~ the conditional prior (Eq. 22); observed ``e``
    (Eq. 21, 24); factors ``bpr`` (Eq. 25), ``dcl`` (Eq. 9–10), ``co`` (Eq. 20). Last per-term means are kept in
    ``last_terms`` for progress display.
    """

    def __init__(self, nets: M2VAENetworks, prior: Prior):
        # Local-parameter mode (DESIGN §2): parameters live in the modules, not the global param store.
        pyro.settings.set(module_local_params=True)
        super().__init__()
        self.nets = nets
        self.prior = prior
        self.kl_scale = 1.0
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, batch: TripleBatch) -> torch.Tensor:
        nets, cfg = self.nets, self.nets.config
        views = nets.shared_views(batch.items, batch.cache)  # the guide's pass, when it just ran
        user = nets.user_emb(batch.pos_users)
        with pyro.plate("triples", batch.size, subsample=batch.index):
            with poutine.scale(scale=self.kl_scale):  # KL warm-up touches the latent sites only
                zs = []
                for m, name in enumerate(latent_names(nets)):
                    with poutine.mask(mask=views.present[m]):
                        loc = torch.zeros_like(views.mu[m])
                        zs.append(pyro.sample(name, dist.Normal(loc, torch.ones_like(loc)).to_event(1)))  # Eq. 23
                z_views = torch.stack(zs)
                z_com = None
                if views.mu_com is not None:
                    com = dist.Normal(views.mu_com, (0.5 * views.logvar_com).exp()).to_event(1)
                    z_com = pyro.sample("z_com", com)  # the guide's own distribution: zero KL
                prior = self.prior.distribution(nets, views, z_views, z_com, user)
                z = pyro.sample("z", prior)  # Eq. 22
            e_new = nets.decode(z, views)  # Eq. 19
            e_i = nets.item_emb(batch.items)
            pyro.sample("e", dist.Normal(e_new, cfg.obs_scale).to_event(1), obs=e_i)  # Eq. 21, 24
            bpr = losses.bpr(e_new, user, nets.user_emb(batch.neg_users))  # Eq. 25
            pyro.factor("bpr", -bpr)
            terms = {"bpr": bpr}
            if cfg.alpha_dcl and z_com is not None:
                pairs = [(z_views[m], views.raw[m], views.present[m].to(z.dtype)) for m in range(nets.n_modalities)]
                dcl = losses.disentangle(pairs, z_com, cfg.tau_dcl, cfg.dcl)  # Eq. 9–10
                pyro.factor("dcl", -cfg.alpha_dcl * dcl)
                terms["dcl"] = dcl
            if cfg.beta_co:
                co = losses.cooccurrence(e_new, nets.item_emb(batch.pos_items), nets.item_emb(batch.neg_items),
                                         cfg.co_tau, cfg.co_include_positive)  # Eq. 20
                pyro.factor("co", -cfg.beta_co * co)
                terms["co"] = co
        self.last_terms = {k: v.detach().mean() for k, v in terms.items()}
        return e_new
