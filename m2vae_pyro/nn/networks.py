"""All networks of M²VAE in one module, shared by the model and the guide (same module names)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config
from ..data.dataset import Dataset
from .cache import shared_pass
from .content import attribute_slots
from .decoder import Decoder
from .encoders import LOGVAR_MAX, LOGVAR_MIN, AttentionPooling, GaussianHead
from .experts import SelfGate, ViewGate, blend, mix, modality_gates, modality_logits, poe, softplus_weight


@dataclass
class Views:
    """Per-item encodings. ``M`` modalities (attribute, then image when the data has one).

    ``mu``/``logvar`` ``[M, B, d]`` unique views (Eq. 3, 5); ``present`` ``[M, B]``; ``raw`` the ``M`` raw
    content vectors ``a_i``, ``c_i`` ``[B, d]`` (Eq. 3–4), with a learned stand-in where a modality is absent;
    ``mu_com``/``logvar_com`` ``[B, d]`` the common view (Eq. 7), ``None`` without one.
    """

    mu: torch.Tensor
    logvar: torch.Tensor
    present: torch.Tensor
    raw: list[torch.Tensor]
    mu_com: torch.Tensor | None
    logvar_com: torch.Tensor | None


@dataclass
class Fused:
    """Output of the hierarchical MoE (Eq. 11–16): ``mu``/``logvar`` ``[B, d]``, gates ``[B, M]``, ``alpha`` ``[B]``."""

    mu: torch.Tensor
    logvar: torch.Tensor
    gates: torch.Tensor
    alpha: torch.Tensor


class M2VAENetworks(nn.Module):
    """Encoders (Eq. 2–5), experts (Eq. 6–7, 11–17), decoder (Eq. 19), ID and user embeddings.

    Item content (attribute ids, image features, presence masks) is held in non-persistent buffers built once
    from the dataset, so a training step only indexes them.
    """

    def __init__(self, ds: Dataset, config: Config):
        super().__init__()
        self.config = config
        d = config.d
        self.n_users, self.n_items = ds.n_users, ds.n_items
        attrs, mask = attribute_slots(ds)
        self.register_buffer("item_attrs", attrs, persistent=False)
        self.register_buffer("item_attr_mask", mask, persistent=False)
        image = ds.modalities.get("image")
        self.has_image = image is not None
        if self.has_image:
            if image.features is None:
                raise ValueError("image features are not attached: call data.images.attach_image_features first")
            self.register_buffer("image_features", torch.from_numpy(image.features), persistent=False)
            self.register_buffer("image_present", torch.from_numpy(image.present), persistent=False)
            self.image_proj = nn.Linear(image.features.shape[1], d)  # c_i (Eq. 3 input)
            self.image_head = GaussianHead(d, d)  # Eq. 3
            self.image_missing = nn.Parameter(torch.zeros(d))
        self.n_modalities = 2 if self.has_image else 1

        self.attr_pool = AttentionPooling(ds.n_attributes, d)  # Eq. 4
        self.attr_head = GaussianHead(d, d)  # Eq. 5
        self.attr_missing = nn.Parameter(torch.zeros(d))
        self.id_head = GaussianHead(d, d)  # Eq. 2 (guide only)
        if config.common == "early":
            self.early_head = GaussianHead(d * self.n_modalities, d)  # GoRec-style common view from raw features
        self.item_emb = nn.Embedding(ds.n_items, d)
        self.user_emb = nn.Embedding(ds.n_users, d)
        nn.init.normal_(self.item_emb.weight, std=0.1)
        nn.init.normal_(self.user_emb.weight, std=0.1)
        self.self_gate = SelfGate(d, self.n_modalities, enabled=config.self_gate)  # Eq. 11
        self.gate_w = nn.Parameter(torch.randn(self.n_modalities, d) / d**0.5)  # w_v of Eq. 12
        self.view_gate = ViewGate(d, config.view_gate_hidden)  # Eq. 15
        self.poe_weight = nn.Parameter(torch.zeros(self.n_modalities + 1))  # weighted-PoE variant
        content_widths = [d] * self.n_modalities if config.decoder_content else []
        self.decoder = Decoder(d, content_widths, d, config.decoder_hidden)  # Eq. 19

    # -- the multi-view generator -------------------------------------------------------------------
    def shared_views(self, items: torch.Tensor, cache: dict) -> Views:
        """``views(items)``, computed once per ELBO evaluation and shared by the guide and the model."""
        return shared_pass(self, cache, "views", items, self.views)

    def views(self, items: torch.Tensor) -> Views:
        """Unique and common views of ``items`` ``[B]`` (Eq. 3–7)."""
        mask = self.item_attr_mask[items]
        has_attr = mask.any(-1)
        a = self.attr_pool(self.item_attrs[items], mask)  # Eq. 4
        mus, logvars, raws, present = [], [], [], [has_attr]
        mu_a, lv_a = self.attr_head(a)  # Eq. 5
        mus.append(mu_a), logvars.append(lv_a)
        raws.append(torch.where(has_attr.unsqueeze(-1), a, self.attr_missing))
        if self.has_image:
            has_img = self.image_present[items]
            c = self.image_proj(self.image_features[items])
            mu_c, lv_c = self.image_head(c)  # Eq. 3
            mus.append(mu_c), logvars.append(lv_c), present.append(has_img)
            raws.append(torch.where(has_img.unsqueeze(-1), c, self.image_missing))
        mu, logvar, present = torch.stack(mus), torch.stack(logvars), torch.stack(present)
        mu_com = logvar_com = None
        if self.config.common == "poe":
            mu_com, logvar_com = self.common_poe(mu, logvar, present)
        elif self.config.common == "early":
            mu_com, logvar_com = self.early_head(torch.cat(raws, dim=-1))
        return Views(mu, logvar, present, raws, mu_com, logvar_com)

    def common_poe(self, mu, logvar, present):
        """Eq. 6–7 over the present experts (plus N(0, I) when ``poe_prior_expert``)."""
        if self.config.poe_prior_expert or not present.any(0).all():
            # the prior expert also covers items with no content at all
            zeros = torch.zeros_like(mu[:1])
            mu, logvar = torch.cat([mu, zeros]), torch.cat([logvar, zeros])
            prior_on = torch.full_like(present[:1], self.config.poe_prior_expert) | ~present.any(0, keepdim=True)
            present = torch.cat([present, prior_on])
        mu_com, logvar_com = poe(mu, logvar, present, eps=self.config.poe_eps)
        return mu_com, logvar_com.clamp(LOGVAR_MIN, LOGVAR_MAX)

    # -- the multi-view fusion ----------------------------------------------------------------------
    def fuse(self, views: Views, z: torch.Tensor, z_com: torch.Tensor | None, user: torch.Tensor) -> Fused:
        """The user-aware hierarchical MoE (Eq. 11–16), gates computed from the sampled ``z`` ``[M, B, d]``.

        μ and log σ² are blended with the same gates: a gated Gaussian, not a mixture distribution (as in
        the paper). The weighted-PoE variant replaces this by a precision-weighted PoE of all views.
        """
        cfg = self.config
        present = views.present.T  # [B, M]
        if cfg.fusion == "weighted_poe":
            mu, lv = self.weighted_poe(views)
            ones = torch.ones(user.shape[:-1], dtype=user.dtype, device=user.device)
            return Fused(mu, lv, present.to(user.dtype), ones)
        gates = self.modality_weights(views, z, z_com, user)
        mu_u, lv_u = mix(gates, views.mu), mix(gates, views.logvar)  # Eq. 14
        if views.mu_com is None:
            no_common = torch.zeros(user.shape[:-1], dtype=user.dtype, device=user.device)
            return Fused(mu_u, lv_u, gates, no_common)
        alpha = self.view_weight(user)
        return Fused(blend(alpha, views.mu_com, mu_u), blend(alpha, views.logvar_com, lv_u), gates, alpha)  # Eq. 16

    def weighted_poe(self, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        """A PoE of every view (unique and common) with a learned softplus weight per view (Eq. 6–7 weighted)."""
        mus, lvs, pres = views.mu, views.logvar, views.present
        if views.mu_com is not None:
            mus = torch.cat([mus, views.mu_com[None]])
            lvs = torch.cat([lvs, views.logvar_com[None]])
            pres = torch.cat([pres, torch.ones_like(pres[:1])])
        weight = softplus_weight(self.poe_weight[: len(mus)])
        mu, lv = poe(mus, lvs, pres, eps=self.config.poe_eps, weight=weight)
        return mu, lv.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def modality_weights(self, views: Views, z: torch.Tensor, z_com: torch.Tensor | None,
                         user: torch.Tensor) -> torch.Tensor:
        """Eq. 11–13 per example: ``[B, M]`` gates over the present modalities (uniform without M-MoE)."""
        present = views.present.T
        if not self.config.modality_moe:
            return modality_gates(torch.zeros_like(present, dtype=user.dtype), present, 1.0)
        user_v = self.self_gate(user)  # Eq. 11
        logits = torch.stack([modality_logits(user_v[m], z[m], z_com, self.gate_w[m])  # Eq. 12
                              for m in range(self.n_modalities)], dim=-1)
        return modality_gates(logits, present, self.config.tau_gate)  # Eq. 13

    def pair_modality_weights(self, views: Views, user: torch.Tensor) -> torch.Tensor:
        """Eq. 11–13 for every (user, item) pair at the view means: ``user`` ``[U, d]`` → ``[M, U, I]``.

        Eq. 12 is bilinear, ``u_v · (z_v ⊙ z_com ⊙ w_v)``, so all pairs are one matrix product per modality.
        The modality axis comes first so that every per-pair tensor is contiguous over (user, item).
        """
        present = views.present[:, None, :]  # [M, 1, I]
        if not self.config.modality_moe:
            shape = (self.n_modalities, user.shape[0], present.shape[-1])
            return modality_gates(torch.zeros(shape, dtype=user.dtype, device=user.device), present, 1.0, dim=0)
        user_v = self.self_gate(user)  # Eq. 11
        com = 1.0 if views.mu_com is None else views.mu_com
        logits = torch.stack([user_v[m] @ (views.mu[m] * com * self.gate_w[m]).T  # Eq. 12
                              for m in range(self.n_modalities)])
        return modality_gates(logits, present, self.config.tau_gate, dim=0)  # Eq. 13

    def view_weight(self, user: torch.Tensor) -> torch.Tensor:
        """Eq. 15 (a constant 1/2 in the w/o-V-MoE variant)."""
        if not self.config.view_moe:
            return torch.full(user.shape[:-1], 0.5, dtype=user.dtype, device=user.device)
        return self.view_gate(user)

    def decode(self, z: torch.Tensor, views: Views) -> torch.Tensor:
        """Eq. 19: ``e_new = F([z; a_i; c_i])`` (``F(z)`` without ``decoder_content``)."""
        return self.decoder(z, self.decoder_inputs(views))

    def decoder_inputs(self, views: Views) -> list[torch.Tensor]:
        """The raw content blocks the decoder sees beside ``z``: ``[a_i, c_i]``, or none."""
        return views.raw if self.config.decoder_content else []
