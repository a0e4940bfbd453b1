"""What the encoders and the fusion hand on: per-item views (Eq. 2–7) and the fused view (Eq. 11–16)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Views:
    """Per-item encodings. ``M`` modalities (attribute, then image when the data has one).

    ``mu``/``logvar`` ``[M, B, d]`` unique views (Eq. 3, 5); ``present`` ``[M, B]``; ``raw`` the ``M`` raw
    content vectors ``a_i``, ``c_i`` ``[B, d]`` (Eq. 3–4), with a learned stand-in where a modality is absent;
    ``mu_com``/``logvar_com`` ``[B, d]`` the common view (Eq. 7), ``None`` without one. ``id_present`` ``[B]``:
    which items keep their ID view (ID dropout), drawn with the encoder pass when both programs need it
    (``Config.dropped_id = cold``), else ``None`` (the guide draws it).
    """

    mu: torch.Tensor
    logvar: torch.Tensor
    present: torch.Tensor
    raw: list[torch.Tensor]
    mu_com: torch.Tensor | None
    logvar_com: torch.Tensor | None
    id_present: torch.Tensor | None = None


@dataclass
class Fused:
    """Output of the hierarchical MoE (Eq. 11–16): ``mu``/``logvar`` ``[B, d]``, gates ``[B, M]``, ``alpha`` ``[B]``."""

    mu: torch.Tensor
    logvar: torch.Tensor
    gates: torch.Tensor
    alpha: torch.Tensor
