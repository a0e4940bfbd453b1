"""The diagonal Gaussians of the model and the guide, parametrised by ``(μ, log σ²)``, and their KL divergence.

The paper's σ is a log-variance (Eq. 2–8, 17–18), so every Gaussian of the program is built from one. Keeping
``log σ²`` beside the scale lets the KL of two of them (Eq. 22–23, the ELBO's analytic terms) be written on the
log-variances, ``½ Σ [exp(λ_q − λ_p) + (μ_q − μ_p)² exp(−λ_p) − 1 + λ_p − λ_q]``: the same value as
``torch.distributions``' Normal–Normal KL up to float rounding, in about half the element-wise passes forward and
backward (four such KLs over ``[B, d]`` were ~10 % of a training step, benchmarks/profile_step.py). Against the
standard normal (``log σ² = 0``, the view priors of Eq. 23) it reduces to ``½ Σ [exp(λ_q) + μ_q² − 1 − λ_q]``; a
Gaussian against itself (the common view, scored by the model with the guide's own distribution) is 0.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch.distributions import register_kl


class DiagonalNormal(dist.Normal):
    """``N(μ, exp(log σ²))`` element-wise, remembering ``log σ²``; ``standard`` marks ``N(0, 1)``."""

    def __init__(self, loc: torch.Tensor, logvar: torch.Tensor, standard: bool = False, validate_args=None):
        self.logvar, self.standard = logvar, standard
        scale = constant_like(logvar, 1.0) if standard else (0.5 * logvar).exp()
        super().__init__(loc, scale, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """A broadcast view (Pyro's plates expand the distributions of their sites), ``log σ²`` expanded with it."""
        new = self._get_checked_instance(DiagonalNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.logvar, new.standard = self.logvar.expand(batch_shape), self.standard
        super().expand(batch_shape, _instance=new)
        return new


def normal(mu: torch.Tensor, logvar: torch.Tensor) -> dist.TorchDistribution:
    """A diagonal Gaussian with event shape ``[d]`` from ``(μ, log σ²)``."""
    return DiagonalNormal(mu, logvar).to_event(1)


def standard_normal(like: torch.Tensor) -> dist.TorchDistribution:
    """``N(0, I)`` with the shape of ``like`` ``[..., d]`` (event shape ``[d]``)."""
    zeros = constant_like(like, 0.0)
    return DiagonalNormal(zeros, zeros, standard=True).to_event(1)


def constant_like(like: torch.Tensor, value: float) -> torch.Tensor:
    """``value`` with the shape of ``like``, as a broadcast view of one number (read-only): a constant parameter (the
    standard normal's 0 and 1, the residual prior's zero mean) costs no ``[B, d]`` tensor to fill and read; eight such
    fills were ~4 % of an ML-20M-size training step (issue 34)."""
    return like.new_full((), value).expand(like.shape)


@register_kl(DiagonalNormal, DiagonalNormal)
def _kl_diagonal(q: DiagonalNormal, p: DiagonalNormal) -> torch.Tensor:
    """``KL(q ‖ p)`` element-wise, on the log-variances (the module docstring)."""
    if p.standard:
        return 0.5 * (q.logvar.exp() + q.loc.pow(2) - 1.0 - q.logvar)
    if _same_values(q.loc, p.loc) and _same_values(q.logvar, p.logvar):  # KL and its gradients are 0 at q = p
        return constant_like(q.loc, 0.0)
    return 0.5 * ((q.logvar - p.logvar).exp() + (q.loc - p.loc).pow(2) * (-p.logvar).exp() - 1.0
                  + p.logvar - q.logvar)


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` read the same memory the same way (hence hold the same values), in O(1)."""
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride() and a.dtype == b.dtype
