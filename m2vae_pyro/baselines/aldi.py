"""ALDI: Huang, Wang, Huang, Qian, Li and Chen, "Aligning Distillation For Cold-start Item Recommendation", SIGIR 2023.

Reference code read: ``zfnWong/ALDI`` — ``cold_start/ALDI.py`` (student towers, the four losses, regulariser,
inference), ``main.py`` (α, β, γ, ``tws``, ``freq_coef_M``, the item frequencies and ``x_expect``, batch, validation),
``utils.py`` (``bpr_neg_samp``), ``warm_model/bprmf.py`` (the teacher). ``YuanchenBei/ColdRec`` ``model/ALDI.py`` and
``config/model_param.py`` were read too; the port follows the official code, so the official code is followed here.
The paper's full text could not be read in this session (its ACM page gives the abstract only), so the comments name
each term by the paper's name for it and the reference's variable, not by equation number.

Objective as published, per BPR sample ``(u, i, j)`` (a user, a warm positive, a warm negative item) over a frozen
warm recommender (the teacher; here BPR-MF on the warm split, shared :func:`pretrain_mf`) with embeddings ``e``, item
content ``c_i`` and teacher scores ``t_ui = e_u · e_i``:

- student towers ``f_I(c)`` and ``f_U(e_u)``, each ``Linear(200) → BN → tanh → Linear(d)`` (truncated-normal kernels,
  std 0.01, zero biases); student scores ``s_ui = f_U(e_u) · f_I(c_i)``;
- supervised loss ``L_S = −log σ(s_ui − s_uj)``;
- rating distribution aligning ``L_R = |t_ui − s_ui| + |t_uj − s_uj|`` (``distill_loss`` term with γ);
- ranking aligning ``L_K = w_i · BCE(s_ui − s_uj; σ(t_ui − t_uj))``: the student's pair logit against the teacher's
  pair probability as a soft label, no temperature (term with α);
- identification aligning ``L_I = w_i · BCE(ι_S(i); σ(ι_T(i)))`` with ``ι(i) = x_i·x_i − mean_j x_i·x_j`` over the
  batch's negative items (student ``x = f_I(c)``, teacher ``x = e``) (term with β);
- teacher-qualifying weighting ``w_i = min(tanh(a·x_i), tanh(M))`` with ``x_i = Σ_{u ∈ N(i)} 1/|N(u)|`` over the warm
  interactions, ``a = M / x̄`` and ``x̄ = n_users / n_items`` (the mean of ``x`` over all items), ``M = 4``: a teacher
  item whose users are many and specific is trusted more (``tws``; ``w_i = 1`` without it);
- ``L = L_S + α·L_K + β·L_I + γ·L_R + reg·Σ‖W‖²/2`` (α 0.9, β 0.05, γ 0.1, reg 1e-4 on every kernel and bias of the
  towers); Adam at 1e-3, batches of 1,024; only the towers are trained.

Inference for a cold item: ``score(u, i) = f_U(e_u) · f_I(c_i)`` (``get_user_emb`` / ``get_item_emb``, towers in
inference mode): from content and the user's warm embedding only.

Deliberate differences:
- content: our ``dense_content`` (multi-hot attributes and centred image features, each block L2-normed) in place of
  their CiteULike content vectors;
- ``d`` = 64 (the shared preference size) for teacher and student, not their 200-d BPR-MF;
- the teacher-qualifying weighting is on by default (``weighting=True``), the paper's method; the reference's
  ``main.py`` and ColdRec default to ``tws = 0`` (off);
- samples are every training positive once per epoch with the first of our triple's sampled negative items as ``j``
  (a warm item ``u`` has no positive on), not a uniform user, one of its positives and a uniform warm item (which may
  be a positive of ``u``);
- ``negatives="users"`` (not the default) is our item-to-user reading, as GAR's: ``L_S``, ``L_R`` and ``L_K`` compare
  ``u`` with the triple's negative user ``u⁻`` on the same item (``s_ui − s_u⁻i``), and ``L_I`` keeps the items ``j``
  (ML-100K seed 0, 12 epochs: validation HR@5 0.2278 against 0.2222 with item negatives; in the grid);
- epochs are chosen on validation HR@5 of our item-to-user protocol (theirs: NDCG@20 of user-to-item, patience 10).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..nn.content import dense_content
from .base import Settings, TrainedBaseline, pretrain_mf


def aldi_tower(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """The reference's ``dense_batch_fc_tanh`` then ``dense_fc``; TF batch-norm settings (momentum 0.99, ε 1e-3)."""
    layers = [nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden, momentum=0.01, eps=1e-3), nn.Tanh(),
              nn.Linear(hidden, d_out)]
    for m in layers:
        if isinstance(m, nn.Linear):  # TF's truncated normal cuts at two standard deviations
            nn.init.trunc_normal_(m.weight, std=0.01, a=-0.02, b=0.02), nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def linear_l2(*modules: nn.Module) -> torch.Tensor:
    """``Σ ‖W‖²/2`` over the Linear kernels *and* biases (the reference regularises both)."""
    return sum(p.pow(2).sum() / 2 for mod in modules for m in mod.modules() if isinstance(m, nn.Linear)
               for p in (m.weight, m.bias))


def teacher_weights(split: ColdStartSplit, n_users: int, n_items: int, m: float) -> torch.Tensor:
    """Teacher-qualifying weights ``min(tanh(a·x_i), tanh(M))`` per item ``[n_items]`` (``main.py`` and ``tws``)."""
    users, items = split.train_users, split.train_items
    degree = np.bincount(users, minlength=n_users)
    x = np.bincount(items, weights=1.0 / degree[users], minlength=n_items)  # Σ_{u ∈ N(i)} 1/|N(u)|
    a = m / (n_users / n_items)  # x̄: Σ_i x_i = the users with a positive, over every item (cold ones too)
    return torch.from_numpy(np.minimum(np.tanh(a * x), np.tanh(m))).float()


def identification(x_i: torch.Tensor, x_j: torch.Tensor) -> torch.Tensor:
    """``ι(i) = x_i·x_i − mean_j x_i·x_j`` over every negative of the batch: ``[B, d]``, ``[B, d]`` → ``[B]``."""
    return x_i.pow(2).sum(-1) - (x_i @ x_j.T).mean(-1)


class ALDI(TrainedBaseline):
    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, alpha: float = 0.9,
                 beta: float = 0.05, gamma: float = 0.1, reg: float = 1e-4, weighting: bool = True,
                 freq_m: float = 4.0, negatives: str = "items"):
        super().__init__(ds, split, settings)
        if negatives not in ("users", "items"):
            raise ValueError(f"negatives must be 'users' or 'items', not {negatives!r}")
        d = settings.d
        self.alpha, self.beta, self.gamma, self.reg, self.negatives = alpha, beta, gamma, reg, negatives
        self.register_buffer("users", torch.zeros(ds.n_users, d))
        self.register_buffer("items", torch.zeros(ds.n_items, d))
        self.register_buffer("content", dense_content(ds), persistent=False)
        weights = teacher_weights(split, ds.n_users, ds.n_items, freq_m) if weighting else torch.ones(ds.n_items)
        self.register_buffer("weights", weights, persistent=False)
        self.user_tower = aldi_tower(d, settings.hidden, d)
        self.item_tower = aldi_tower(self.content.shape[1], settings.hidden, d)

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        users, items = pretrain_mf(self.ds, sampler, self.settings, progress=progress)
        self.users.copy_(users), self.items.copy_(items)

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        i, j = batch.items, batch.neg_items[:, 0]
        e_i, e_j = self.items[i], self.items[j]
        # positives and negatives in one batch-norm batch, as the reference's concatenated feed
        s_i, s_j = self.item_tower(self.content[torch.cat([i, j])]).chunk(2)
        if self.negatives == "items":  # as published: (u, i) against (u, j)
            e_u = self.users[batch.pos_users]
            f_u = self.user_tower(e_u)
            t_pos, t_neg = (e_u * e_i).sum(-1), (e_u * e_j).sum(-1)
            s_pos, s_neg = (f_u * s_i).sum(-1), (f_u * s_j).sum(-1)
        else:  # item-to-user: (u, i) against (u⁻, i)
            e_u, e_n = self.users[batch.pos_users], self.users[batch.neg_users]
            f_u, f_n = self.user_tower(torch.cat([e_u, e_n])).chunk(2)
            t_pos, t_neg = (e_u * e_i).sum(-1), (e_n * e_i).sum(-1)
            s_pos, s_neg = (f_u * s_i).sum(-1), (f_n * s_i).sum(-1)
        w = self.weights[i]  # the positive item's teacher weight (``pos_item_freq``)
        supervised = F.softplus(-(s_pos - s_neg)).mean()  # L_S
        rating = ((t_pos - s_pos).abs() + (t_neg - s_neg).abs()).mean()  # L_R: rating distribution aligning
        ranking = (w * F.binary_cross_entropy_with_logits(  # L_K: ranking aligning, the teacher's σ as soft label
            s_pos - s_neg, torch.sigmoid(t_pos - t_neg), reduction="none")).mean()
        iden = (w * F.binary_cross_entropy_with_logits(  # L_I: identification aligning
            identification(s_i, s_j), torch.sigmoid(identification(e_i, e_j)), reduction="none")).mean()
        return (supervised + self.alpha * ranking + self.beta * iden + self.gamma * rating
                + self.reg * linear_l2(self.user_tower, self.item_tower))

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.user_tower(self.users[users]) @ self.item_tower(self.content[items]).T


MODEL = ALDI
DEFAULTS = dict(lr=1e-3, d=64, hidden=200, alpha=0.9, beta=0.05, gamma=0.1, reg=1e-4, weighting=True, freq_m=4.0,
                negatives="items")
# the published lr and a tenth of it, d and twice it, the published item negatives and our item-to-user reading.
# Not the weighting: on ML-100K it saturates (seed 0: 89% of the training positives' items weigh > 0.99 ≈ tanh 4),
# and with it off seed 0's validation HR@5 is the same 0.2222 within 12 epochs
GRID = {"lr": [1e-3, 1e-4], "d": [64, 128], "negatives": ["items", "users"]}
# `m2vae tune ml-100k --model aldi --seeds 2 --epochs 40 --set patience=15` (benchmarks/experiments/tune-ml-100k-aldi,
# validation cold items of seeds 0–1 only): the user-negative form at lr 1e-3, d 64, 0.2396 (the published
# item-negative form at the same lr 0.2340)
TUNED = {"movielens": dict(lr=1e-3, d=64, negatives="users")}
