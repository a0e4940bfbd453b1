"""The training objective: a ``TraceMeanField_ELBO`` in Pyro's local-parameter mode (docs/design.md §2)."""

from __future__ import annotations

import pyro
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO
from pyro.infer.trace_mean_field_elbo import _check_mean_field_requirement
from pyro.infer.util import is_validation_enabled
from pyro.poutine.util import prune_subsample_sites
from pyro.util import check_if_enumerated, check_model_guide_match
from torch.distributions import kl_divergence

from ..module.networks import M2VAENetworks
from .guide import M2VAEGuide
from .model import M2VAEModel


class MeanFieldELBO(TraceMeanField_ELBO):
    """``TraceMeanField_ELBO`` whose traces carry log-densities only where its loss reads them.

    Pyro's ``get_importance_trace`` computes ``log_prob`` at every site of the model trace and the score parts at
    every site of the guide trace; ``TraceMeanField_ELBO`` reads them only at the observed sites and, through its
    fallback, at latent sites without an analytic KL. For M²VAE's Gaussian sites that was nine ``[B, d]``
    log-densities a step whose values were never used (~6 % of a step, benchmarks/profile_step.py). The loss itself is
    Pyro's, unchanged (``tests/test_plain_loss.py`` checks both against the hand-written oracle, the mixture priors'
    fallback included).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._has_kl: dict[tuple, bool] = {}  # (guide type, model type) → whether kl_divergence is registered

    def _analytic(self, q, p) -> bool:
        key = (type(q), type(getattr(q, "base_dist", None)), type(p), type(getattr(p, "base_dist", None)))
        if key not in self._has_kl:  # tried once per pair of types: the registry has no public lookup
            try:
                kl_divergence(q, p)
                self._has_kl[key] = True
            except NotImplementedError:
                self._has_kl[key] = False
        return self._has_kl[key]

    def _get_trace(self, model, guide, args, kwargs):
        guide_trace = poutine.trace(guide, graph_type="flat").get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace), graph_type="flat").get_trace(
            *args, **kwargs)
        if is_validation_enabled():
            check_model_guide_match(model_trace, guide_trace, self.max_plate_nesting)
            check_if_enumerated(guide_trace)
            _check_mean_field_requirement(model_trace, guide_trace)
        guide_trace, model_trace = prune_subsample_sites(guide_trace), prune_subsample_sites(model_trace)
        fallback = {name for name, site in model_trace.nodes.items()
                    if site["type"] == "sample" and not site["is_observed"]
                    and not self._analytic(guide_trace.nodes[name]["fn"], site["fn"])}
        model_trace.compute_log_prob(lambda name, site: site["is_observed"] or name in fallback)
        if fallback or is_validation_enabled():  # the entropy terms of the single-sample KL estimate (mixture and
            guide_trace.compute_score_parts()  # vamp priors); validation checks the guide's reparametrisation in them
        return model_trace, guide_trace


def programs(nets: M2VAENetworks) -> tuple[M2VAEModel, M2VAEGuide]:
    """The model and guide over one owner of the networks (parameters live in the modules, not the param store)."""
    pyro.settings.set(module_local_params=True)
    return M2VAEModel(nets), M2VAEGuide(nets)


def elbo_loss(model: M2VAEModel, guide: M2VAEGuide):
    """An ``ELBOModule``: ``loss(batch, views, kl_scale)`` is the negative ELBO with the factors (Eq. 26)."""
    return MeanFieldELBO()(model, guide)
