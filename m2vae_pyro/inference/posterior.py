"""Posterior samples of item embeddings with ``pyro.infer.Predictive``, and their ArviZ form.

Warm items are drawn from the guide ``q(z | e, a, c, u)`` (Eq. 17–18); cold items, which have no ``e_i``, from the
conditional prior ``p(z | a, c, u)`` (Eq. 22) with the unique and common views drawn from their content encoders
(Eq. 3–8). Every draw is decoded to ``e_new`` (Eq. 19) and scored against the user it was generated for.
Each item is generated for one *reference user* (the gates of Eq. 11–16 need one); the analysis uses the most
active training user unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Predictive

from ..models.model import TripleBatch, latent_names
from ..models.priors import Prior
from ..nn.networks import M2VAENetworks


def cold_generator(nets: M2VAENetworks, prior: Prior, items: torch.Tensor, users: torch.Tensor) -> None:
    """The generative path of a cold item as a Pyro program: views from content, ``z`` from the prior, ``e_new``."""
    views = nets.views(items)
    user = nets.user_emb(users)
    with pyro.plate("pairs", len(items)):
        zs = [pyro.sample(name, dist.Normal(views.mu[m], (0.5 * views.logvar[m]).exp()).to_event(1))  # Eq. 3–5, 8
              for m, name in enumerate(latent_names(nets))]
        z_com = None
        if views.mu_com is not None:
            z_com = pyro.sample("z_com", dist.Normal(views.mu_com, (0.5 * views.logvar_com).exp()).to_event(1))
        z = pyro.sample("z", prior.distribution(nets, views, torch.stack(zs), z_com, user))  # Eq. 22
        e_new = pyro.deterministic("e_new", nets.decode(z, views), event_dim=1)  # Eq. 19
        pyro.deterministic("score", (e_new * user).sum(-1))


@dataclass
class PosteriorDraws:
    """``samples[site]`` ``[S, I, ...]`` for ``items`` (warm first, then cold), generated for ``users``."""

    items: np.ndarray
    users: np.ndarray
    cold: np.ndarray  # bool per item
    samples: dict[str, np.ndarray]


def _site_names(nets: M2VAENetworks) -> list[str]:
    names = latent_names(nets) + (["z_com"] if nets.config.common != "none" else [])
    return names + ["z"]


@torch.no_grad()
def draw_posterior(guide, nets: M2VAENetworks, prior: Prior, warm: np.ndarray, cold: np.ndarray,
                   users: np.ndarray, num_samples: int) -> PosteriorDraws:
    """``num_samples`` draws for ``warm`` items (guide) and ``cold`` items (conditional prior); ``users`` per item."""
    nets.eval()
    sites = _site_names(nets)
    out: dict[str, list[np.ndarray]] = {s: [] for s in sites + ["e_new", "score"]}
    n_warm = len(warm)
    if n_warm:
        it, us = torch.from_numpy(warm), torch.from_numpy(users[:n_warm])
        empty = torch.zeros(n_warm, 0, dtype=torch.long)
        batch = TripleBatch(torch.arange(n_warm), it, us, us, empty, empty, size=n_warm)
        draws = Predictive(guide, num_samples=num_samples, return_sites=sites, parallel=False)(batch)
        views = nets.views(it)
        e_new = nets.decode(draws["z"], views)  # Eq. 19 for every draw: [S, I, d]
        draws |= {"e_new": e_new, "score": (e_new * nets.user_emb(us)).sum(-1)}
        for s in out:
            out[s].append(draws[s].numpy())
    if len(cold):
        it, us = torch.from_numpy(cold), torch.from_numpy(users[n_warm:])
        draws = Predictive(cold_generator, num_samples=num_samples, return_sites=sites + ["e_new", "score"],
                           parallel=False)(nets, prior, it, us)
        for s in out:
            out[s].append(draws[s].numpy())
    samples = {s: np.concatenate(v, axis=1) for s, v in out.items()}
    items = np.concatenate([warm, cold])
    return PosteriorDraws(items, users, np.r_[np.zeros(n_warm, bool), np.ones(len(cold), bool)], samples)


def to_inference_data(draws: PosteriorDraws, item_ids: np.ndarray):
    """An ArviZ object (chain axis of size 1; dims ``item``, ``latent``) — arviz 0.2x or 1.x (a DataTree)."""
    import arviz as az

    posterior = {name: value[None] for name, value in draws.samples.items()}
    dims = {name: ["item", "latent"] if value.ndim == 3 else ["item"] for name, value in draws.samples.items()}
    d = next(v.shape[-1] for v in draws.samples.values() if v.ndim == 3)
    coords = {"item": [str(i) for i in item_ids[draws.items]], "latent": np.arange(d)}
    constant = {"is_cold": draws.cold, "reference_user": draws.users}
    return az.from_dict(posterior=posterior, dims=dims | {"is_cold": ["item"], "reference_user": ["item"]},
                        coords=coords, constant_data=constant)


def hdi(samples: np.ndarray, prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Narrowest interval holding ``prob`` of the draws, along axis 0 (vectorised over the other axes)."""
    s = np.sort(samples, axis=0)
    n = s.shape[0]
    width = max(1, int(np.floor(prob * n)))
    if width >= n:
        return s[0], s[-1]
    spans = s[width:] - s[: n - width]
    start = np.argmin(spans, axis=0)
    lo = np.take_along_axis(s, start[None], axis=0)[0]
    hi = np.take_along_axis(s, (start + width)[None], axis=0)[0]
    return lo, hi
