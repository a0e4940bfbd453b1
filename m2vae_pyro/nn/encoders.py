"""Encoders of the multi-view generator (Eq. 2–5)."""

from __future__ import annotations

import torch
from torch import nn

LOGVAR_MIN, LOGVAR_MAX = -10.0, 10.0


class GaussianHead(nn.Module):
    """Two linear maps to ``(μ, log σ²)`` with the log-variance clamped (Eq. 2, 3, 5).

    The paper's σ is a log-variance (docs/design.md §3). Input ``[..., d_in]``, outputs ``[..., d_z]`` each.
    """

    def __init__(self, d_in: int, d_z: int):
        super().__init__()
        self.mu = nn.Linear(d_in, d_z)
        self.logvar = nn.Linear(d_in, d_z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(x), self.logvar(x).clamp(LOGVAR_MIN, LOGVAR_MAX)


class AttentionPooling(nn.Module):
    """``a_i = AttenPooling(l_i A)`` (Eq. 4): attention over the item's *own* attributes.

    The softmax runs per item over its attribute slots (masked), never across the batch, so an item's
    ``a_i`` does not depend on which other items share its batch. Items without any attribute get zeros
    and must be flagged absent by the caller.

    ``attrs`` is ``[B, L]`` attribute ids padded with anything, ``mask`` ``[B, L]`` bool; output ``[B, d]``.
    """

    def __init__(self, n_attributes: int, d: int):
        super().__init__()
        self.embedding = nn.Embedding(max(n_attributes, 1), d)
        self.key = nn.Linear(d, d)
        self.query = nn.Parameter(torch.randn(d) / d**0.5)

    def forward(self, attrs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(attrs)  # [B, L, d]: the rows l_i A of the multi-hot product
        score = torch.tanh(self.key(emb)) @ self.query  # [B, L]
        score = score.masked_fill(~mask, float("-inf"))
        weight = torch.softmax(score, dim=-1).nan_to_num(0.0)  # all-masked rows → zeros, not NaN
        return (weight.unsqueeze(-1) * emb).sum(dim=-2)
