"""The CVAE decoder ``e_new = F([z; a_i; c_i])`` (Eq. 19)."""

from __future__ import annotations

import torch
from torch import nn


class Decoder(nn.Module):
    """A two-layer MLP ``F`` with the first layer split by input block; ``hidden = 0`` makes ``F`` linear.

    ``W₁[z; a; c] = W_z z + W_a a + W_c c``: the split lets the exact evaluator combine per-item terms with
    per-pair gate weights (docs/design.md §5) instead of running the first layer for every (user, item) pair.

    ``residual = True`` is Eq. 19 in location-scale form, ``F([z; a; c]) = F_c([a; c]) + z``: the content path owns
    the mean and ``z`` is the residual of ``e_i`` around it, which the decoder cannot scale down (an MLP decoder
    shrinks ``W_z`` while the posterior is still noisy and ``z`` is never used again: posterior collapse, measured
    in docs/paper-map.md). ``z_in`` then holds only the first layer's bias; ``M2VAENetworks.decode`` composes
    ``e_new = a · F_c + z`` with the scale ``a`` of ``e_i`` (the ranking terms leave ``F_c``'s norm free).
    """

    def __init__(self, d_z: int, d_content: list[int], d_out: int, hidden: int, residual: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        width = hidden or d_out
        self.residual = residual
        self.dropout = nn.Dropout(dropout) if dropout and hidden else nn.Identity()
        self.z_in = nn.Linear(d_z, width)
        if residual:
            self.z_in.weight.requires_grad_(False)
            nn.init.zeros_(self.z_in.weight)
        self.content_in = nn.ModuleList(nn.Linear(d, width, bias=False) for d in d_content)
        self.act = nn.Tanh() if hidden else nn.Identity()
        self.out = nn.Linear(hidden, d_out) if hidden else nn.Identity()

    def content_term(self, content: list[torch.Tensor]) -> torch.Tensor | float:
        """``Σ_m W_m x_m`` (0 when the decoder takes no content)."""
        return sum((layer(x) for layer, x in zip(self.content_in, content, strict=True)), 0.0)

    def content_mean(self, content: list[torch.Tensor], dropout: bool = False) -> torch.Tensor:
        """``F_c([a; c])`` of the residual form: the decoder at ``z``'s contribution removed; ``dropout``: with the
        hidden layer's dropout (the ranking terms' pass in training; the generative mean never has it)."""
        hidden = self.act(self.content_term(content) + self.z_in.bias)
        return self.out(self.dropout(hidden) if dropout else hidden)

    def forward(self, z: torch.Tensor, content: list[torch.Tensor]) -> torch.Tensor:
        """``z`` ``[..., d_z]``, ``content`` a list of ``[..., d_m]`` → ``e_new`` ``[..., d_out]`` (Eq. 19)."""
        if self.residual:
            raise RuntimeError("the residual form is composed by M2VAENetworks.decode (it needs e_i's scale)")
        return self.out(self.act(self.z_in(z) + self.content_term(content)))
