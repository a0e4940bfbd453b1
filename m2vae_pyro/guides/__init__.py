"""The inference half of M²VAE."""

from .guide import M2VAEGuide

__all__ = ["M2VAEGuide"]
