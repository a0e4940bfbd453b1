"""Posterior samples of item embeddings with ``pyro.infer.Predictive``, and their ArviZ form.

Warm items are drawn from the guide ``q(z | e, a, c, u)`` (Eq. 17–18); cold items, which have no ``e_i``, from
their cold path (``Config.cold_path``: the guide without the ID view, or the conditional prior of Eq. 22), with the
unique and common views drawn from their content encoders (Eq. 3–8). Every draw is decoded to ``e_new`` (Eq. 19)
and scored against the user it was generated for.
Each item is generated for one *reference user* (the gates of Eq. 11–16 need one); the analysis uses the most
active training user unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from pyro.infer import Predictive

from ..data.batch import TripleBatch
from ..module.networks import M2VAENetworks
from ..programs.guide import M2VAEGuide
from ..programs.model import M2VAEModel


@dataclass
class PosteriorDraws:
    """``samples[site]`` ``[S, I, ...]`` for ``items`` (warm first, then cold), generated for ``users``."""

    items: np.ndarray
    users: np.ndarray
    cold: np.ndarray  # bool per item
    samples: dict[str, np.ndarray]


def _site_names(nets: M2VAENetworks) -> list[str]:
    names = nets.view_names() + (["z_com"] if nets.config.common != "none" else [])
    return names + ["z", "e_new"]


@torch.no_grad()
def draw_posterior(model: M2VAEModel, guide: M2VAEGuide, warm: np.ndarray, cold: np.ndarray, users: np.ndarray,
                   num_samples: int) -> PosteriorDraws:
    """``num_samples`` draws for ``warm`` items (the guide with the ID view) and ``cold`` items (the cold path).

    ``Predictive`` runs the model under the guide's draws; ``e_new`` is the model's ``pyro.deterministic`` site, so
    the generative path is written once. ``users`` holds one reference user per item, warm items first.
    """
    nets = model.nets
    nets.eval()
    sites = _site_names(nets)
    out: dict[str, list[np.ndarray]] = {s: [] for s in sites + ["score"]}
    offset = 0
    for items, is_cold in ((warm, False), (cold, True)):
        if not len(items):
            continue
        it = torch.from_numpy(items)
        us = torch.from_numpy(users[offset : offset + len(items)])
        offset += len(items)
        batch = TripleBatch.of_pairs(it, us)
        views = nets.views(it)
        draws = Predictive(model, guide=partial(guide, cold=is_cold), num_samples=num_samples, return_sites=sites,
                           parallel=False)(batch, views)
        if nets.views_drawn_per_item(views):  # the view sites hold a row per distinct item: one per pair here
            for site in sites[:-2]:
                draws[site] = draws[site].index_select(1, views.row)
        draws["score"] = (draws["e_new"] * nets.user_emb(us)).sum(-1)
        for s in out:
            out[s].append(draws[s].numpy())
    samples = {s: np.concatenate(v, axis=1) for s, v in out.items()}
    is_cold = np.r_[np.zeros(len(warm), bool), np.ones(len(cold), bool)]
    return PosteriorDraws(np.concatenate([warm, cold]), users, is_cold, samples)


@torch.no_grad()
def draw_pair_scores(model: M2VAEModel, guide: M2VAEGuide, items: np.ndarray, users: np.ndarray, cold: bool,
                     num_samples: int, max_draws: int = 1 << 18) -> np.ndarray:
    """``[S, I, U]`` posterior draws of the score ``e_new(i | u) · e_u`` of every (item, user) pair.

    Every pair is one row of the plate, as a training triple is: in the model each (item, user) has its own ``z``
    (and view draws), conditionally independent given the content, so independent draws per pair are the model's
    joint posterior predictive of the score matrix. Under ``Config.view_draws = item`` an item's pairs share its
    view draws (as its triples do in training), and only ``z`` is drawn per pair.
    ``cold``: the cold path (no ID view), else the guide with it.
    ``Predictive`` draws the samples vectorised (3× faster than one pass per draw), ``max_draws`` (pair, draw)
    rows at a time, which bounds the memory of its traces (under ``view_draws = item``: whole items a chunk, at
    least one).
    """
    nets = model.nets
    nets.eval()
    pair_items = np.repeat(items, len(users))
    pair_users = np.tile(users, len(items))
    out = np.empty((num_samples, len(pair_items)), dtype=np.float32)
    max_pairs = max(1, max_draws // num_samples)
    if nets.config.view_draws == "item" and len(users):  # whole items a chunk: an item's pairs share its views
        max_pairs = max(1, max_pairs // len(users)) * len(users)
    for lo in range(0, len(pair_items), max_pairs):
        it = torch.from_numpy(pair_items[lo : lo + max_pairs])
        us = torch.from_numpy(pair_users[lo : lo + max_pairs])
        draws = Predictive(model, guide=partial(guide, cold=cold), num_samples=num_samples, return_sites=["e_new"],
                           parallel=True)(TripleBatch.of_pairs(it, us), nets.views(it))
        out[:, lo : lo + len(it)] = (draws["e_new"] * nets.user_emb(us)).sum(-1).numpy()
    return out.reshape(num_samples, len(items), len(users))


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
