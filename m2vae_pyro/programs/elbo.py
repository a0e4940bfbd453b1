"""The training objective: ``TraceMeanField_ELBO()(model, guide)`` in Pyro's local-parameter mode
(docs/design.md §2)."""

from __future__ import annotations

import pyro
from pyro.infer import TraceMeanField_ELBO

from ..module.networks import M2VAENetworks
from .guide import M2VAEGuide
from .model import M2VAEModel


def programs(nets: M2VAENetworks) -> tuple[M2VAEModel, M2VAEGuide]:
    """The model and guide over one owner of the networks (parameters live in the modules, not the param store)."""
    pyro.settings.set(module_local_params=True)
    return M2VAEModel(nets), M2VAEGuide(nets)


def elbo_loss(model: M2VAEModel, guide: M2VAEGuide):
    """An ``ELBOModule``: ``loss(batch, views, kl_scale)`` is the negative ELBO with the factors (Eq. 26)."""
    return TraceMeanField_ELBO()(model, guide)
