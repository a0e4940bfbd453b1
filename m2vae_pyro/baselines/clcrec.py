"""CLCRec: Wei, Wang, Li, Nie, Li, Li and Chua, "Contrastive Learning for Cold-Start Recommendation", ACM MM 2021.

Reference code read: ``weiyinwei/CLCRec`` — ``model_CLCRec.py`` (model and loss), ``Dataset.py`` (sampler),
``main.py`` / ``README.md`` (hyperparameters), ``Metric.py`` (scoring).

Objective as published (one training positive ``(u, i)`` with ``n_neg`` sampled warm items ``j`` it has no
positive on; ``e`` ID embeddings of users and items in one table, ``f`` the content encoder):

- user–item term: ``−log exp(e_u·x_i/τ) / Σ_{k∈{i}∪J} exp(e_u·x_k/τ)`` where ``x_k`` is the ID embedding ``e_k``, or
  for a random part of the candidates the content embedding ``f_k`` (the reference replaces
  ``int(0.5·N)`` of the ``N`` candidate rows, drawn with replacement: ≈ 39 %);
- item–item term: the same density ratio between the item's normalised ID embedding and the normalised content
  embeddings of ``{i} ∪ J`` (its own content the positive);
- ``λ · item–item + (1 − λ) · user–item + reg · (mean ‖e_u‖ + mean ‖e_k‖) / 2``.

MovieLens settings of the README: lr 1e-3, λ 0.5, τ 2.0, 128 negatives, reg 0.1, 64-d, batch 256; Amazon: λ 0.9,
τ 1.0, 512 negatives, reg 1e-3. The encoder is ``Linear(F, 256) → LeakyReLU → Linear(256, d)`` over the
concatenated L2-normalised content features.

Inference for a cold item: ``score(u, i) = e_u · f(content_i)`` (the reference's ``result`` holds ID embeddings for
users and warm items and the encoder output for cold items).

Deliberate differences:
- the user–item negatives are *users* by default (``negatives="users"``): for each training positive ``(u, i)``
  the item's representation ``x_i`` (its content embedding ``f_i`` for the same random ``int(0.5·B)``-draw share of
  the ``B`` rows as the reference mixes candidates, its ID embedding ``e_i`` otherwise) scores ``u`` against
  ``n_neg`` users drawn uniformly, with replacement, among users without a training positive on ``i``:
  ``−log exp(x_i·e_u/τ) / Σ_{v∈{u}∪V} exp(x_i·e_v/τ)``; the regulariser is then over the embeddings this term
  contrasts, ``(mean ‖e_v‖ over {u}∪V + mean ‖e_i‖) / 2``. Why: our protocol ranks all users for each cold item,
  and the published term normalises over items for each user, so nothing ties one user's score scale to
  another's. On ML-100K seed 0, published form (``negatives="items"``): after 8 epochs the user norms are
  anti-correlated with activity (ρ ≈ −0.69) and the top-5 users of the cold test items have 14 training positives
  on average against 47 overall (test HR@5 0.04, user-to-item HR@5 0.15); validation HR@5 then climbs slowly (best
  0.151 at epoch 38 of 40, test HR@5 0.134), below the untrained ``userpop`` (≈ 0.20); PAD-CLRec test HR@5 0.101.
  With 128 user negatives (same seed, 40 epochs, patience 15): validation HR@5 0.194, test 0.211 (PAD-CLRec
  0.190 / 0.218), both best at epoch 37, still rising. ``negatives="items"`` is the published
  form, kept exactly (same sampler draws, same loss). The item–item term and PAD-CLRec's group term are the same
  in both forms (their negatives are the sampled warm items ``J``);
- content input: our ``dense_content`` (multi-hot attributes and centred image features, each block L2-normed)
  in place of their visual/acoustic/textual feature files; the encoder network is theirs;
- negative items are warm items without a *training* positive of the user (the reference excludes every
  interaction of the user); they are drawn vectorised with replacement rather than ``random.sample`` without;
- the reference encodes every item at every step; we encode the distinct items of the batch (same values);
- epochs are chosen on validation HR@5 of our item-to-user protocol, as for every baseline.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..nn.content import ContentLinear
from .base import Settings, TrainedBaseline
from .contrastive import UserItemBatch, UserItemSampler, candidate_logits, first_candidate_nce


class CLCRec(TrainedBaseline):
    uses_user_items = False  # PAD-CLRec also needs each user's other positives

    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, tau: float = 2.0, lam: float = 0.5,
                 reg_weight: float = 0.1, n_neg: int = 128, mix: float = 0.5, negatives: str = "users"):
        super().__init__(ds, split, settings)
        if negatives not in ("users", "items"):
            raise ValueError(f"negatives must be 'users' or 'items', not {negatives!r}")
        self.tau, self.lam, self.reg_weight, self.n_neg, self.mix = tau, lam, reg_weight, n_neg, mix
        self.negatives = negatives
        self.n_users = ds.n_users
        # one table for users then items, as the reference: its Xavier scale depends on the joint shape
        self.embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(ds.n_users + ds.n_items, settings.d)))
        # the reference's Linear(F, 256) on the content vector, read from the item index (same weights and values)
        self.encoder = nn.Sequential(ContentLinear(ds, settings.hidden), nn.LeakyReLU(),
                                     nn.Linear(settings.hidden, settings.d))
        self._examples: UserItemSampler | None = None

    def encode(self, items: torch.Tensor) -> torch.Tensor:
        """``f(content)`` of item indices ``[n]`` → ``[n, d]``."""
        return self.encoder(items)

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        n_neg_users = self.n_neg if self.negatives == "users" else 0
        self._examples = UserItemSampler(sampler, self.n_neg, self.uses_user_items, n_neg_users)

    def batches(self, sampler: TripleSampler, epoch: int):
        s = self.settings
        yield from self._examples.epoch(s.seed, epoch, s.batch_size)

    def content_mask(self, shape: torch.Size) -> torch.Tensor:
        """Which user–item candidates use their content embedding: ``int(mix·N)`` of the ``N`` candidates drawn
        with replacement, as the reference. ``[B, K]`` bool."""
        rows = shape[0] * shape[1]
        mask = torch.zeros(rows, dtype=torch.bool)
        mask[torch.randint(rows, (int(rows * self.mix),))] = True
        return mask.view(shape)

    def extra_loss(self, batch: UserItemBatch, content: torch.Tensor, slots: torch.Tensor,
                   clcrec: torch.Tensor) -> torch.Tensor:
        """The objective from CLCRec's per-example loss ``[B]``; a variant adds its terms here, given the content
        embeddings of the batch's distinct items ``[n, d]`` and each candidate's row among them ``[B, K]``."""
        return clcrec.mean()

    def user_item(self, batch: UserItemBatch, user: torch.Tensor, ids: torch.Tensor, content: torch.Tensor,
                  slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The user–item InfoNCE ``[B]`` and the regulariser of the embeddings it contrasts.

        ``"items"``: the user ``[B, d]`` against its candidate items, each its content or ID embedding
        (:meth:`content_mask`). ``"users"``: the item, its content or ID embedding by the same mask over the rows,
        against its positive user and ``batch.neg_users``.
        """
        if self.negatives == "items":
            logits = torch.where(self.content_mask(slots.shape), candidate_logits(user, content, slots),
                                 candidate_logits(user, ids, slots))
            reg = (user.norm(dim=-1).mean() + ids.norm(dim=-1)[slots].mean()) / 2
            return first_candidate_nce(logits, self.tau), reg
        own = slots[:, 0]
        item = torch.where(self.content_mask(torch.Size((len(own), 1))), content[own], ids[own])  # [B, d]
        distinct, user_slots = torch.unique(torch.cat([batch.users[:, None], batch.neg_users], dim=1),
                                            return_inverse=True)
        users = self.embedding[distinct]
        reg = (users.norm(dim=-1)[user_slots].mean() + ids[own].norm(dim=-1).mean()) / 2
        return first_candidate_nce(candidate_logits(item, users, user_slots), self.tau), reg

    def loss(self, batch: UserItemBatch) -> torch.Tensor:
        distinct, slots = torch.unique(batch.items, return_inverse=True)  # slots [B, K]: rows of the distinct items
        user = self.embedding[batch.users]  # [B, d]
        ids, content = self.embedding[self.n_users + distinct], self.encode(distinct)  # [n, d] each
        item_item = first_candidate_nce(
            candidate_logits(F.normalize(ids[slots[:, 0]], dim=-1), F.normalize(content, dim=-1), slots), self.tau)
        user_item, reg = self.user_item(batch, user, ids, content, slots)
        per_example = self.lam * item_item + (1 - self.lam) * user_item
        return self.extra_loss(batch, content, slots, per_example) + self.reg_weight * reg

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.embedding[users] @ self.encode(items).T


MODEL = CLCRec
# The README's MovieLens command; batch 256 as the reference (main.py), 64-d, hidden 256 as its encoder.
# negatives="users": ours, not the reference's (see the docstring); "items" is the published form.
DEFAULTS = dict(lr=1e-3, d=64, hidden=256, batch_size=256, tau=2.0, lam=0.5, reg_weight=0.1, n_neg=128, mix=0.5,
                negatives="users")
# lr around the reference's 1e-3, both dimensions, τ at its Amazon (1.0) and MovieLens (2.0) values: 8 points.
GRID = {"lr": [1e-3, 3e-4], "d": [64, 128], "tau": [1.0, 2.0]}
# `m2vae tune ml-100k --model clcrec --seeds 2 --epochs 40 --set patience=15` (benchmarks/RESULTS.md, issue 20):
# the published point is the best of the eight (validation HR@5 0.2000)
TUNED = {"movielens": dict(lr=1e-3, d=64, tau=2.0)}
# Published values for Amazon data (issue 31's rule: these, else the ml-100k-tuned preset): weiyinwei/CLCRec
# README's Amazon command (reg 1e-3, 512 negatives, λ 0.9, τ 1.0; d, lr, batch and mix its main.py defaults)
PUBLISHED = {"amazon": dict(lr=1e-3, d=64, batch_size=256, tau=1.0, lam=0.9, reg_weight=1e-3, n_neg=512, mix=0.5)}
