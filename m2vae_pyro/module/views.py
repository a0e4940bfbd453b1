"""What the encoders and the fusion hand on: per-item views (Eq. 2–7) and the fused view (Eq. 11–16)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Views:
    """Per-item encodings. ``M`` modalities (attribute, then image when the data has one).

    ``mu``/``logvar`` ``[M, B, d]`` unique views (Eq. 3, 5); ``present`` ``[M, B]``; ``raw`` the ``M`` raw
    content vectors ``a_i``, ``c_i`` ``[B, d]`` (Eq. 3–4), with a learned stand-in where a modality is absent;
    ``mu_com``/``logvar_com`` ``[B, d]`` the common view (Eq. 7), ``None`` without one. ``id_present`` ``[B]``:
    which items keep their ID view (ID dropout), drawn with the encoder pass when both programs need it
    (``Config.dropped_id = cold``), else ``None`` (the guide draws it).

    ``memo``: what the networks derive from these views once and reuse within the step (the content path ``F_c``,
    the residual scale of the batch, the conditional prior's parameters): the guide, the model and the ranking terms
    each ask for them, and recomputing them was a sixth of a training step. Not an ``__init__`` argument, so a copy
    made with ``dataclasses.replace`` starts empty.
    """

    mu: torch.Tensor
    logvar: torch.Tensor
    present: torch.Tensor
    raw: list[torch.Tensor]
    mu_com: torch.Tensor | None
    logvar_com: torch.Tensor | None
    id_present: torch.Tensor | None = None
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)


@dataclass
class Fused:
    """Output of the hierarchical MoE (Eq. 11–16): ``mu``/``logvar`` ``[B, d]``, gates ``[B, M]``, ``alpha`` ``[B]``."""

    mu: torch.Tensor
    logvar: torch.Tensor
    gates: torch.Tensor
    alpha: torch.Tensor
