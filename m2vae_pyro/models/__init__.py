"""The generative half of M²VAE: conditional prior and decoder."""

from .model import M2VAEModel, TripleBatch
from .priors import PRIORS, make_prior

__all__ = ["M2VAEModel", "PRIORS", "TripleBatch", "make_prior"]
