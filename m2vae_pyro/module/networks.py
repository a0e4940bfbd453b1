"""The one module that owns M²VAE's networks, every distribution (``*_dist``) and every factor term.

The model and the guide (``programs/``) are short Pyro programs that call it, CEVAE style: they say *which* site
gets *which* distribution, this module says what the distributions are.
"""

from __future__ import annotations

import numpy as np
import pyro.distributions as dist
import torch
from torch import nn

from ..config import Config
from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..nn import losses
from ..nn.content import attribute_slots, image_center, image_matrix
from ..nn.decoder import Decoder
from ..nn.dropout import dropout
from ..nn.encoders import LOGVAR_MAX, LOGVAR_MIN, AttentionPooling, GaussianHead
from ..nn.experts import (
    SelfGate,
    ViewGate,
    blend,
    mix,
    modality_gates,
    modality_logits,
    moe_posterior,
    poe,
    rms_normalise,
    softplus_weight,
    two_modality_gates,
)
from ..nn.gaussian import normal, standard_normal
from ..nn.similarity import distinct
from .priors import RESIDUAL_LOGVAR, fused_mean_terms, make_prior
from .views import Fused, Views

# the smallest scale a of decoder_z = residual: a > 0 keeps the order of a cold item's users that of the content path
# (while e_i is still its random initial value the slope is ≈ 0 and may come out negative)
A_MIN = 1e-3


def global_sum(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over the processes of a data-parallel run (itself otherwise): the batch statistics of σ_obs and
    of the residual scale are the global batch's, as one process with the same batch would compute them."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1:
        x = x.clone()
        tdist.all_reduce(x)
    return x


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
        image = ds.modalities.get("image")
        self.has_image = image is not None
        if self.has_image:
            if image.features is None:
                raise ValueError("image features are not attached: call data.images.attach_image_features first")
            # the centre of image_norm = center_l2 is the training items' mean: fixed, so that an item appended
            # after training (attach_content) is encoded exactly as it would have been among the training items
            self.register_buffer("image_center", image_center(image.features, image.present), persistent=False)
        self.attach_content(ds)
        if self.has_image:
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
        # user_updates = lazy: a row-sparse gradient (at 10⁵ users the dense [n_users, d] gradient, its fill and its
        # Adam pass are a fifth of a step); the trainer updates the table with SparseAdam (lazy_parameters)
        self.user_emb = nn.Embedding(ds.n_users, d, sparse=config.user_updates == "lazy")
        nn.init.normal_(self.item_emb.weight, std=0.1)
        nn.init.normal_(self.user_emb.weight, std=0.1)
        self.self_gate = SelfGate(d, self.n_modalities, enabled=config.self_gate)  # Eq. 11
        self.gate_w = nn.Parameter(torch.randn(self.n_modalities, d) / d**0.5)  # w_v of Eq. 12
        self.view_gate = ViewGate(d, config.view_gate_hidden)  # Eq. 15
        self.poe_weight = nn.Parameter(torch.zeros(self.n_modalities + 1))  # weighted-PoE variant
        # z_scale = "learned": a per-dimension shift of the posterior's log-variance (Eq. 17), so that z's noise is
        # not the blend of the view variances that Eq. 23 holds near 1
        self.z_logvar_shift = nn.Parameter(torch.zeros(d), requires_grad=config.z_scale == "learned")
        if config.obs_noise == "learned":  # Eq. 24 with a fitted σ_obs (only then a parameter: old checkpoints load)
            start = config.sigma_obs if config.sigma_obs is not None else 0.1
            self.log_sigma_obs = nn.Parameter(torch.full((d,), float(np.log(start))))
        if config.decoder_z == "residual":  # running Σ e_i·F_c, Σ F_c², weight: the scale a (residual_scale)
            self.register_buffer("scale_stats", torch.zeros(3))
        if config.obs_noise == "optimal":  # the running σ² of prediction (buffers: saved, never trained)
            self.register_buffer("obs_var_sum", torch.zeros(d))
            self.register_buffer("obs_var_weight", torch.zeros(()))
        content_widths = [d] * self.n_modalities if config.decoder_content else []
        self.decoder = Decoder(d, content_widths, d, config.decoder_hidden, config.decoder_z == "residual",
                               config.decoder_dropout)  # Eq. 19
        self.prior = make_prior(config.prior, self)  # Eq. 22, swappable (module/priors.py)
        if config.decoder_z == "residual":
            # the ID view reads the residual e_i − F_c and starts as its exact posterior (identity mean, the item
            # embeddings' initial variance): the form is known, and a log-variance moves too slowly from 0 (sd 1)
            nn.init.eye_(self.id_head.mu.weight), nn.init.zeros_(self.id_head.mu.bias)
            nn.init.zeros_(self.id_head.logvar.weight), nn.init.constant_(self.id_head.logvar.bias, RESIDUAL_LOGVAR)

    def attach_content(self, ds: Dataset) -> None:
        """Item content as (non-persistent) buffers the steps index: at construction, and again when items that
        arrived after training are appended to the dataset (``M2VAE.add_items``; the trained items keep their
        rows, so nothing learned changes)."""
        device = self.item_attrs.device if hasattr(self, "item_attrs") else torch.device("cpu")
        attrs, mask = attribute_slots(ds)
        self.register_buffer("item_attrs", attrs.to(device), persistent=False)
        self.register_buffer("item_attr_mask", mask.to(device), persistent=False)
        if self.has_image:
            image = ds.modalities["image"]
            features = image_matrix(image.features, image.present, self.config.image_norm,
                                    center=self.image_center.cpu())
            self.register_buffer("image_features", features.to(device), persistent=False)
            self.register_buffer("image_present", torch.from_numpy(image.present).to(device), persistent=False)

    # -- the multi-view generator -------------------------------------------------------------------
    def views(self, items: torch.Tensor) -> Views:
        """Unique and common views of ``items`` ``[B]`` (Eq. 3–7).

        Everything here is a function of the item, so it runs once per distinct item of the batch and is then
        indexed by example (on ML-100K a batch of 1,024 triples holds ~450 distinct items). Content dropout draws
        one mask per distinct item and step: each example's mask has the same distribution as before, so the
        expected loss is unchanged; the examples of one item now share their draw (docs/paper-map.md).
        """
        if len(items) > 1 and bool((items[1:] > items[:-1]).all()):  # already distinct (a scorer's catalogue): the
            distinct, row = items, torch.arange(len(items), device=items.device)  # sort of torch.unique is skipped
        else:
            distinct, row = torch.unique(items, return_inverse=True)
        mu, logvar, present, raws, item_mu_com, item_logvar_com = self.item_views(distinct)
        mu_com = logvar_com = None
        if item_mu_com is not None:
            mu_com, logvar_com = item_mu_com.index_select(0, row), item_logvar_com.index_select(0, row)
        # under dropped_id = cold the model masks the likelihood of the ID-dropped triples, so it must see the mask
        has_id = self.id_present(len(items), items.device) if self.config.dropped_id == "cold" else None
        # index_select, not ``t[row]``: its backward is one index_add (advanced indexing's is an accumulating
        # index_put, 3–6× slower on CPU for a batch's repeated rows: benchmarks/RESULTS.md, issue 34)
        return Views(mu.index_select(1, row), logvar.index_select(1, row), present.index_select(1, row),
                     [r.index_select(0, row) for r in raws], mu_com, logvar_com, has_id,
                     items=items, distinct=distinct, item_raw=raws, row=row,
                     item_params=(mu, logvar, present, item_mu_com, item_logvar_com))

    def item_views(self, items: torch.Tensor) -> tuple:
        """The per-item tensors of :class:`Views` for distinct ``items``: ``(mu, logvar, present, raw, mu_com,
        logvar_com)``."""
        mask = self.item_attr_mask[items]
        has_attr = mask.any(-1)
        a = self.content_scale(self.content_dropout(self.attr_pool(self.item_attrs[items], mask)))  # Eq. 4
        mus, logvars, raws, present = [], [], [], [has_attr]
        mu_a, lv_a = self.attr_head(self.latent_input(a))  # Eq. 5
        mus.append(mu_a), logvars.append(lv_a)
        raws.append(torch.where(has_attr.unsqueeze(-1), a, self.attr_missing))
        if self.has_image:
            has_img = self.image_present[items]
            # index_select, not ``[items]``: advanced indexing of the [n_items, 1,280] rows took 4× as long (2.3 against
            # 0.5 ms for ~3,300 rows on two threads; 18 ms a step in an ML-20M-size profile)
            image = self.image_features.index_select(0, items)
            c = self.content_scale(self.image_proj(self.content_dropout(image)))
            mu_c, lv_c = self.image_head(self.latent_input(c))  # Eq. 3
            mus.append(mu_c), logvars.append(lv_c), present.append(has_img)
            raws.append(torch.where(has_img.unsqueeze(-1), c, self.image_missing))
        mu, logvar, present = torch.stack(mus), torch.stack(logvars), torch.stack(present)
        mu_com = logvar_com = None
        if self.config.common == "poe":
            mu_com, logvar_com = self.common_poe(mu, logvar, present)
        elif self.config.common == "early":
            mu_com, logvar_com = self.early_head(self.latent_input(torch.cat(raws, dim=-1)))
        return mu, logvar, present, raws, mu_com, logvar_com

    def content_dropout(self, x: torch.Tensor) -> torch.Tensor:
        """``Config.content_dropout`` on an encoder's input, in training mode only (no RNG draw when it is 0)."""
        return dropout(x, self.config.content_dropout, self.training)  # a 1,280-d image row per item: torch.rand

    def content_scale(self, x: torch.Tensor) -> torch.Tensor:
        """The raw content vector ``a_i`` or ``c_i`` as the views and the decoder read it (``Config.content_norm``).

        ``l2`` puts every block on the unit sphere: at initialisation the pooled attribute embeddings have norm ≈ 8.6
        and the projected image ≈ 0.25 on ML-100K, so the image path of Eq. 19 starts 30× weaker and learns slowly.
        """
        if self.config.content_norm == "l2":
            return nn.functional.normalize(x, dim=-1, eps=1e-8)
        return x

    def latent_input(self, x: torch.Tensor) -> torch.Tensor:
        """Raw content (and the user, in the gates) as the latent side reads it: ``Config.latent_grad``.

        ``detached`` stops the gradients of the latent side (view heads, gates, conditional prior, DCL; Eq. 9–10,
        11–16, 22, 23) at the raw content encoders and the user embeddings, so that they shape the latent path only
        and the representations the score is made of are trained by the BPR, co-occurrence and reconstruction terms
        (RESULTS "Version 2").
        """
        return x.detach() if self.config.latent_grad == "detached" else x

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
        user = self.latent_input(user)  # the gates read the user; under "detached" they do not train it
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
        zs = z.unbind(0)  # not z[m]: see Views.modality
        logits = torch.stack([modality_logits(user_v[m], zs[m], z_com, self.gate_w[m], self.config.gate_norm)  # Eq. 12
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
        com, mu = 1.0 if views.mu_com is None else views.mu_com, views.mu
        if self.config.gate_norm:  # each factor at unit RMS, as in modality_logits (separable per user and item)
            user_v = [rms_normalise(u) for u in user_v]
            mu, com = rms_normalise(mu), com if views.mu_com is None else rms_normalise(com)
        items_v = [mu[m] * com * self.gate_w[m] for m in range(self.n_modalities)]  # [I, d] each
        if self.n_modalities == 2:
            return two_modality_gates(user_v, items_v, views.present, self.config.tau_gate)
        logits = torch.stack([user_v[m] @ items_v[m].T for m in range(self.n_modalities)])  # Eq. 12
        return modality_gates(logits, present, self.config.tau_gate, dim=0)  # Eq. 13

    def view_weight(self, user: torch.Tensor) -> torch.Tensor:
        """Eq. 15 (a constant 1/2 in the w/o-V-MoE variant)."""
        if not self.config.view_moe:
            return torch.full(user.shape[:-1], 0.5, dtype=user.dtype, device=user.device)
        return self.view_gate(user)

    def decode(self, z: torch.Tensor, views: Views, target: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 19: ``e_new = F([z; a_i; c_i])`` (``F(z)`` without ``decoder_content``).

        Under ``decoder_z = residual``: ``e_new = a · F_c([a; c]) + z`` with the content path held constant — the
        likelihood of Eq. 24 fits the residual ``z`` (and ``a``) around it and never pulls the ranking model toward the
        noisy ``e_i`` of rarely seen items by regression (measured: with that pull the ranking terms learn ~3×
        slower; docs/paper-map.md). ``target``: the batch's observed ``e_i``, from which ``a`` is fitted in training.
        """
        if self.config.decoder_z == "residual":
            f = self.content_path(views).detach()
            return self.batch_scale(views, f, target) * f + z
        return self.decoder(z, self.decoder_inputs(views.raw))

    def content_path(self, views: Views, ranking: bool = False, by_example: bool = True) -> torch.Tensor:
        """``F_c([a; c])`` of the residual form, once per distinct item of the encoder pass (``Views.per_item``);
        ``ranking``: the ranking terms' pass, with the decoder's hidden dropout in training (its own draw when on)."""
        if ranking and self.training and not isinstance(self.decoder.dropout, nn.Identity):
            return views.per_item(None, lambda _, raw: self.decoder.content_mean(self.decoder_inputs(raw), True))
        return views.per_item("content_path", lambda _, raw: self.decoder.content_mean(self.decoder_inputs(raw)),
                              by_example)

    def batch_scale(self, views: Views, f: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """:meth:`residual_scale` of a training batch fitted once per step (the guide's residual and the model's
        ``e_new`` share it, and the running average takes one update a step), else the running value."""
        if not (self.training and target is not None):
            return self.residual_scale(f, target)
        if "scale" not in views.memo:
            views.memo["scale"] = self.residual_scale(f, target)
        return views.memo["scale"]

    def residual_scale(self, f: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """``a`` of ``decoder_z = residual``: the least-squares slope of ``e_i`` on the content path ``F_c``, the
        maximum-likelihood scale of ``e_i ~ N(a F_c, ·)`` (no gradient). The ranking terms leave ``F_c``'s norm free
        (measured: its rms per dimension grows to 0.8 against e_i's 0.1), so without ``a`` the residual would be
        ``F_c``'s own size. Fitted on each training batch, with a running average for prediction (as ``optimal``
        σ_obs)."""
        if not (self.training and target is not None):
            w = float(self.scale_stats[2])
            a = self.scale_stats[0] / self.scale_stats[1] if w else torch.ones((), device=f.device)
            return a.clamp_min(A_MIN)
        num, den = global_sum(torch.stack([(target * f).sum(), f.pow(2).sum()]).detach())
        den = den.clamp_min(1e-12)
        with torch.no_grad():
            m = self.config.obs_noise_momentum
            self.scale_stats.mul_(m).add_(torch.stack([num, den, torch.ones_like(num)]), alpha=1.0 - m)
        return (num / den).clamp_min(A_MIN)

    def decoder_inputs(self, raw: list[torch.Tensor]) -> list[torch.Tensor]:
        """The raw content blocks the decoder sees beside ``z``: ``[a_i, c_i]``, or none.

        In training, ``Config.decoder_content_dropout`` zeroes them for a random fraction of the rows (in the content
        path of the residual form, the distinct items of the batch).
        """
        if not self.config.decoder_content:
            return []
        rate = self.config.decoder_content_dropout
        if not (rate and self.training):
            return raw
        keep = (torch.rand(raw[0].shape[:-1], device=raw[0].device) >= rate).unsqueeze(-1)
        return [r * keep.to(r.dtype) for r in raw]

    # -- the distributions of the model and the guide -----------------------------------------------
    def views_drawn_per_item(self, views: Views) -> bool:
        """Whether the view sites are drawn once per distinct item of ``views`` (``Config.view_draws = item``, and
        the pass knows its distinct items) rather than once per example."""
        return self.config.view_draws == "item" and views.row is not None

    def view_names(self) -> list[str]:
        """The sample sites of the unique views (Eq. 8), in modality order."""
        return ["z_a", "z_c"][: self.n_modalities]

    def view_posterior_dist(self, views: Views, m: int) -> dist.TorchDistribution:
        """``q(z_v | v)`` of modality ``m`` (Eq. 3, 5, 8)."""
        return normal(*views.modality(m))

    def view_prior_dist(self, views: Views, m: int) -> dist.TorchDistribution:
        """``p(z_v) = N(0, I)`` (Eq. 23)."""
        return standard_normal(views.mu[m])

    def common_dist(self, views: Views) -> dist.TorchDistribution:
        """The PoE common view ``z_com`` (Eq. 6–8); the model scores it with the guide's own distribution."""
        return normal(views.mu_com, views.logvar_com)

    def posterior_dist(self, views: Views, fused: Fused, items: torch.Tensor, has_id: torch.Tensor | None,
                       cold_prior: dist.TorchDistribution | None = None) -> dist.TorchDistribution:
        """``q(z | e, a, c, u)``: Eq. 17's combination of the ID view (Eq. 2) with the fused view (Eq. 11–16).

        ``has_id`` ``[B]`` bool drops the ID expert where it is false (ID dropout); ``None`` keeps it everywhere.
        ``cold_prior``: the prior of the batch (``p(z | ·)`` at the drawn views), needed by ``dropped_id = cold``
        on ``cold_path = prior``.
        """
        mu_e, logvar_e = self.id_view(views)  # Eq. 2
        mu, logvar = moe_posterior(mu_e, logvar_e, fused.mu, fused.logvar, self.config.combine, has_id)  # Eq. 17
        if has_id is not None and self.config.dropped_id == "cold":  # the ID-dropped triples: the cold path's own
            mu_c, logvar_c = self.dropped_params(fused, cold_prior)
            keep = has_id.unsqueeze(-1)
            mu, logvar = torch.where(keep, mu, mu_c), torch.where(keep, logvar, logvar_c)
        return self.z_normal(mu, logvar)  # Eq. 18

    def id_view(self, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, log σ²)`` of the ID view (Eq. 2) of every example of ``views``, once per distinct item."""
        return views.per_item("id_view", lambda items, _: self.id_head(self.id_input(items, views)))

    def id_input(self, items: torch.Tensor, views: Views) -> torch.Tensor:
        """What the ID view (Eq. 2) of ``items`` reads — the distinct items of ``views`` (``Views.per_item``):
        ``e_i``, or under ``decoder_z = residual`` the residual ``e_i − a F_c([a; c])`` that ``z`` has to explain
        (held constant: the guide's input, not a path for gradients), ``a`` the batch's scale."""
        e = self.id_target(items)
        if self.config.decoder_z == "residual":
            scale = self.batch_scale(views, self.content_path(views).detach(), self.id_target(views.items))
            return (e - scale * self.content_path(views, by_example=False).detach()).detach()
        return e

    def dropped_params(self, fused: Fused, cold_prior: dist.TorchDistribution | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, log σ²)`` of a triple whose ID view is dropped under ``dropped_id = cold``: the cold path's own
        distribution, held constant (``Config.dropped_id``)."""
        if self.config.cold_path == "guide":
            return fused.mu.detach(), fused.logvar.detach()
        if isinstance(cold_prior, dist.MixtureSameFamily):  # mixture, vamp: the Gaussian of the prior's two moments
            return cold_prior.mean.detach(), cold_prior.variance.detach().log()
        p = cold_prior.base_dist
        return p.loc.detach(), 2.0 * p.scale.detach().log()

    def needs_cold_prior(self) -> bool:
        """Whether the guide must hand :meth:`posterior_dist` the prior (``dropped_id = cold``, ``cold_path =
        prior``, in training: only then is an ID view dropped)."""
        return self.config.dropped_id == "cold" and self.config.cold_path == "prior" and self.training

    def cold_dist(self, views: Views, z_views: torch.Tensor, z_com: torch.Tensor | None,
                  user: torch.Tensor) -> dist.TorchDistribution:
        """``z`` of an item without an ID on the configured cold path: the guide without the ID view, or the prior."""
        if self.config.cold_path == "guide":
            fused = self.fuse(views, z_views, z_com, user)  # Eq. 11–16
            return self.z_normal(fused.mu, fused.logvar)
        return self.prior_dist(views, z_views, z_com, user)

    def z_normal(self, mu: torch.Tensor, logvar: torch.Tensor) -> dist.TorchDistribution:
        """The Gaussian of ``z`` in the guide: ``Config.z_scale``'s shift of the log-variance, then the clamp."""
        return normal(mu, (logvar + self.z_logvar_shift).clamp(LOGVAR_MIN, LOGVAR_MAX))

    def prior_dist(self, views: Views, z_views: torch.Tensor, z_com: torch.Tensor | None,
                   user: torch.Tensor) -> dist.TorchDistribution:
        """``p_θ(z | a, c)`` (Eq. 22) — the fused view of the drawn views under version 1's ``moe`` prior."""
        return self.prior.distribution(self, views, z_views, z_com, user)

    def cold_mean_terms(self, views: Views, user: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``E[z]`` of cold items for every (user, item) pair on the cold path, as ``Prior.mean_terms`` gives it.

        ``guide``: the fused view at each user's own gates (sum, mean and PoE of Eq. 17 all reduce to it when the
        ID expert is absent); ``prior``: the conditional prior's mean.
        """
        if self.config.cold_path == "guide":
            return fused_mean_terms(self, views, user)
        return self.prior.mean_terms(self, views, user)

    def likelihood_dist(self, e_new: torch.Tensor, target: torch.Tensor | None = None,
                        mask: torch.Tensor | None = None) -> dist.TorchDistribution:
        """``p(e_i | a, c, z) = N(e_new, σ_obs² I)`` (Eq. 21, 24); σ_obs fixed or fitted (``Config.obs_noise``).

        ``target``: the observed ``e_i`` of a training batch, from which ``optimal`` takes its σ (in training mode),
        over the triples of ``mask`` (those whose likelihood counts) when given.
        """
        noise = self.config.obs_noise
        if noise == "learned":
            scale = self.log_sigma_obs.exp()
        elif noise == "optimal":
            scale = self.optimal_var(e_new, target, mask).sqrt()
        else:
            scale = self.config.obs_scale
        return dist.Normal(e_new, scale).to_event(1)

    def optimal_var(self, e_new: torch.Tensor, target: torch.Tensor | None,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
        """σ-VAE's maximum-likelihood σ² per dimension: the batch's mean squared residual, no gradient (training),
        else the running average kept from training (``Config.obs_noise = optimal``)."""
        if not (self.training and target is not None):
            return self.obs_var()
        sq = (target - e_new).detach().pow(2).reshape(-1, e_new.shape[-1])
        if mask is not None:  # only the triples whose likelihood counts (likelihood_mask)
            sq = sq[mask.reshape(-1)]
        total = global_sum(torch.cat([sq.sum(0), sq.new_tensor([len(sq)])]))  # over every rank's shard
        var = (total[:-1] / total[-1] if total[-1] > 0 else self.obs_var()).clamp_min(1e-6)
        with torch.no_grad():  # an exponential average, bias-corrected by its total weight (no start value)
            m = self.config.obs_noise_momentum
            self.obs_var_sum.mul_(m).add_(var, alpha=1.0 - m)
            self.obs_var_weight.mul_(m).add_(1.0 - m)
        return var

    def obs_var(self) -> torch.Tensor:
        """The running σ² of ``obs_noise = optimal`` (``config.obs_scale²`` before the first training step)."""
        if float(self.obs_var_weight) == 0.0:
            return torch.full_like(self.obs_var_sum, self.config.obs_scale**2)
        return self.obs_var_sum / self.obs_var_weight

    def id_target(self, items: torch.Tensor) -> torch.Tensor:
        """``e_i`` as the ELBO sees it (the likelihood's observation and the ID view's input; ``Config.id_target``).

        ``data`` stops the ELBO's gradient at ``e_i``: the stop-gradient must cover the ID view too, or the
        likelihood reaches ``e_i`` through the posterior (measured: 23× the warm BPR's gradient, issue 30).
        """
        e = self.item_emb(items)
        return e.detach() if self.config.id_target == "data" else e

    def views_id_present(self, views: Views, device: torch.device) -> torch.Tensor | None:
        """The ID-dropout mask of a batch: drawn with the views (``dropped_id = cold``) or here, in the guide."""
        if views.id_present is not None or self.config.dropped_id == "cold":
            return views.id_present
        return self.id_present(views.mu.shape[1], device)

    def likelihood_mask(self, views: Views) -> torch.Tensor | None:
        """Which triples' likelihood (Eq. 24) counts: under ``dropped_id = cold`` only those with their ID view —
        the ELBO fits the generative model of ``e_i`` where the guide sees it; an ID-dropped triple, whose
        posterior is the cold path held constant, would only pull the content path toward ``e_i`` by regression
        (measured: it slows the ranking terms; docs/paper-map.md). ``None``: every triple."""
        return views.id_present if self.config.dropped_id == "cold" else None

    def id_present(self, n: int, device: torch.device) -> torch.Tensor | None:
        """ID dropout: which of ``n`` training triples keep the ID view (``None``: all of them).

        Only in training mode, like ``nn.Dropout``. Drawn from torch's RNG inside the guide, so an oracle that draws
        in the same order sees the same mask.
        """
        rate = self.config.id_dropout
        return torch.rand(n, device=device) >= rate if rate and self.training else None

    def ranking_embedding(self, views: Views, z_views: torch.Tensor, z_com: torch.Tensor | None, user: torch.Tensor,
                          e_new: torch.Tensor) -> torch.Tensor:
        """The ``e_new`` the ranking terms (Eq. 20, 25) see: the decoded draw, or under ``decoder_z = residual`` the
        cold path's mean, ``F_c([a; c]) + E[z]`` — the embedding a cold item is scored by. A drawn residual there
        would add the prior's spread (≈ 1 per dimension at the start) to every score and drown the ranking signal,
        and on a triple with its ID view it would be ``e_i`` itself (measured: validation HR@5 0.07 after 5 epochs;
        docs/paper-map.md)."""
        if self.config.decoder_z != "residual":
            return e_new
        f = self.content_path(views, ranking=True)
        a = self.residual_scale(f, None).detach()
        # (a F_c + E[z]) / a: the cold item's mean embedding in the ranking terms' own scale (a > 0 is one number, so
        # the order of users is the same); at a's scale (≈ 0.1) the BPR margins start 10× smaller and learn slowly
        return f + self.cold_dist(views, z_views, z_com, user).mean / a

    def residual_mean(self, views: Views) -> torch.Tensor:
        """``a · F_c([a; c])`` of ``decoder_z = residual`` with ``a`` at its running value and held constant: the mean
        cold items are scored by (``a > 0`` scales every score alike, so the ranking terms train ``F_c`` itself)."""
        f = self.content_path(views)
        return self.residual_scale(f, None).detach() * f

    def lazy_parameters(self) -> list[nn.Parameter]:
        """The tables whose gradients are row-sparse: the user table under ``user_updates = lazy``, else none."""
        return [self.user_emb.weight] if self.user_emb.sparse else []

    def batch_users(self, batch: TripleBatch, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        """``(e_u, e_u⁻)`` ``[B, d]`` of the batch's positive and negative users, from one lookup of the user table a
        step (memoised in ``views``, the step's encoder pass). The guide, the model and the ranking terms all read
        them, and each lookup of a table adds its own dense ``[n_users, d]`` gradient to fill and sum in the backward
        pass: one lookup instead of four took an ML-20M-size step from 153 to 137 ms (benchmarks/RESULTS.md). Pairs
        drawn for posterior analysis have no negatives (``neg_users`` repeats ``pos_users``): one half is looked up."""
        key = ("users", id(batch))
        if key not in views.memo:
            if batch.pairs_only:
                user = self.user_emb(batch.pos_users)
                views.memo[key] = (user, user)
            else:
                n = len(batch.pos_users)
                both = self.user_emb(torch.cat([batch.pos_users, batch.neg_users]))
                views.memo[key] = (both[:n], both[n:])
        return views.memo[key]

    # -- the factor terms (Eq. 9–10, 20, 25) ---------------------------------------------------------
    def factor_terms(self, batch: TripleBatch, views: Views, z_views: torch.Tensor, z_com: torch.Tensor | None,
                     e_new: torch.Tensor) -> dict[str, tuple[float, torch.Tensor]]:
        """``{name: (weight, per-example loss [B])}`` for every factor; the model adds ``−weight · loss``. None for a
        batch of (item, user) pairs drawn for posterior analysis (``TripleBatch.of_pairs``)."""
        cfg = self.config
        if batch.pairs_only:
            return {}
        user, neg_user = self.batch_users(batch, views)
        terms = {"bpr": (1.0, losses.bpr(e_new, user, neg_user))}  # Eq. 25
        with_co = bool(cfg.beta_co and batch.pos_items.shape[-1])  # pairs for posterior analysis carry no co-items
        e_warm, co_rows, co_inverse = self.batch_item_rows(batch, bool(cfg.bpr_warm), with_co)
        if cfg.bpr_warm:  # the author's second BPR, on the warm e_i: it makes e_i a collaborative embedding
            terms["bpr_warm"] = (cfg.bpr_warm, losses.bpr(e_warm, user, neg_user))
        if cfg.alpha_dcl and z_com is not None:
            pairs = [(z_m, self.latent_input(views.raw[m]), views.present[m].to(e_new.dtype))
                     for m, z_m in enumerate(z_views.unbind(0))]  # not z_views[m]: see Views.modality
            terms["dcl"] = (cfg.alpha_dcl, losses.disentangle(pairs, z_com, cfg.tau_dcl, cfg.dcl))  # Eq. 9–10
        if with_co:
            co = losses.cooccurrence_of_rows(e_new, co_rows, co_inverse, batch.pos_items.shape[-1], cfg.co_tau,
                                             cfg.co_include_positive)  # Eq. 20
            terms["co"] = (cfg.beta_co, co)
        return terms

    def batch_item_rows(self, batch: TripleBatch, warm: bool, co: bool) -> tuple:
        """``(e_i [B, d], co-item rows [R, d], inverse [B, c_p + c_n])`` from one lookup of the item table (``None``
        for a part not asked for): the warm BPR's ``e_i`` and the batch's distinct co-items (Eq. 20). Like
        :meth:`batch_users`: each lookup adds its own dense ``[n_items, d]`` gradient to fill and sum in the backward
        pass (two a step, ~15 ms each on an ML-20M-size catalogue at B = 4,096: benchmarks/RESULTS.md)."""
        ids, sizes = [], []
        if warm:
            ids.append(batch.items), sizes.append(len(batch.items))
        inverse = None
        if co:
            index = torch.cat([batch.pos_items, batch.neg_items], dim=-1)
            rows, inverse = distinct(index, self.item_emb.num_embeddings)
            ids.append(rows), sizes.append(len(rows))
        if not ids:
            return None, None, None
        looked = self.item_emb(torch.cat(ids) if len(ids) > 1 else ids[0]).split(sizes)
        return (looked[0] if warm else None), (looked[-1] if co else None), inverse
