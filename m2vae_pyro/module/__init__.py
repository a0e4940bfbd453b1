"""M²VAE's math without sample statements: views, fusion, priors, and the module that owns every distribution."""

from .networks import M2VAENetworks
from .priors import PRIORS, Prior, make_prior
from .views import Fused, Views

__all__ = ["PRIORS", "Fused", "M2VAENetworks", "Prior", "Views", "make_prior"]
