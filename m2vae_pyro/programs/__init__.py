"""The two Pyro programs of M²VAE (model and guide), their ELBO, and the plain-PyTorch oracle of that ELBO."""

from .elbo import elbo_loss, programs
from .guide import M2VAEGuide
from .model import M2VAEModel

__all__ = ["M2VAEGuide", "M2VAEModel", "elbo_loss", "programs"]
