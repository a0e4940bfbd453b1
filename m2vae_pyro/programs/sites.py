"""The view sites both programs share: ``z_a``, ``z_c`` (masked where the modality is absent) and ``z_com``."""

from __future__ import annotations

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from ..module.networks import M2VAENetworks
from ..module.views import Views


def networks(program: torch.nn.Module) -> M2VAENetworks:
    """The networks of the model or the guide, read past ``PyroModule.__getattr__``: in local-parameter mode that hook
    issues a no-op ``param`` statement through the effect stack for every parameter of a plain ``nn.Module``
    attribute — 92 of them, twice a step, ~9 % of an ML-100K training step (benchmarks/profile_step.py). The networks
    stay a plain ``nn.Module`` on purpose: their many sub-module accesses would each cost the same."""
    return program._modules["nets"]


def sample_views(nets: M2VAENetworks, views: Views, view_dist: Callable[[Views, int], dist.TorchDistribution],
                 triples: pyro.plate, scale: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw the unique views from ``view_dist`` (the model's prior or the guide's posterior) and the common view
    from its PoE (the same distribution on both sides, so it adds no KL). Returns ``([M, B, d], [B, d] | None)``
    (with any leading sample dimensions of a vectorised ``Predictive``).

    ``Config.view_draws``: ``triple`` draws them in ``triples``, the plate of the examples; ``item`` once per
    distinct item of the batch, in a plate ``items`` whose sites are scaled by each item's count of examples times
    ``scale`` (the triples plate's ``N / B``), then indexed by example — the same expected ELBO: the KLs are
    analytic, each example's view still has its item's distribution, only an item's examples share the draw.
    """
    if not nets.views_drawn_per_item(views):
        with triples:
            return _draw_views(nets, views, view_dist)
    items = views.of_items()
    with pyro.plate("items", len(views.distinct)), poutine.scale(scale=views.counts() * scale):
        z_views, z_com = _draw_views(nets, items, view_dist)
    return z_views.index_select(-2, views.row), None if z_com is None else z_com.index_select(-2, views.row)


def _draw_views(nets: M2VAENetworks, views: Views, view_dist: Callable[[Views, int], dist.TorchDistribution]
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    zs = []
    for m, name in enumerate(nets.view_names()):
        with poutine.mask(mask=views.present[m]):
            zs.append(pyro.sample(name, view_dist(views, m)))
    z_com = pyro.sample("z_com", nets.common_dist(views)) if views.mu_com is not None else None
    return torch.stack(zs), z_com
