"""CVAE: the collaborative variational autoencoder (Li and She, "Collaborative Variational Autoencoder for
Recommender Systems", KDD 2017). Reference code: ``eelxpeng/CollaborativeVAE``, ``lib/cvae.py`` (model and
alternating training), ``lib/vae.py`` (pre-training), ``test_cvae.py`` (the values below).

Generative model, per item ``j``: ``z_j ~ N(0, I)``; content ``x_j ~ p(x | z_j)`` through a generation network;
item latent ``v_j ~ N(z_j, λ_v⁻¹ I)`` (``v_j = z_j + ε``); user latent ``u_i ~ N(0, λ_u⁻¹ I)``; ratings
``r_ij ~ N(u_iᵀ v_j, c_ij⁻¹)`` with confidence ``c_ij = a`` on observed and ``b`` on unobserved pairs. The
inference network gives ``q(z_j | x_j)``. Maximised: ``−λ_u/2 Σ‖u_i‖² − Σ c_ij/2 (r_ij − u_iᵀ v_j)²
− λ_v/2 Σ E_q‖v_j − z_j‖² + λ_r Σ (E_q log p(x_j | z_j) − KL(q(z_j | x_j) ‖ N(0, I)))``, with ``a = 1``,
``b = 0.01``, ``λ_u = 0.1``, ``λ_v = 10``, ``λ_r = 1``, ``K = 50``, networks ``[200, 100]`` with sigmoid
activations, generation weights tied to the inference ones (``W1ᵀ``, ``W2ᵀ`` and the first bias), L2 weight
decay ``2e-4`` on them, Adam at lr 1e-3, batch 128. Training: the VAE is pre-trained on the content alone, then
``V`` starts at ``E[z | x]``; their epochs alternate (i) VAE steps on the content ELBO plus the ``v`` coupling
and (ii) a closed-form (ALS) sweep of ``U`` and ``V``.

Inference for a cold item (no ratings): ``v_j = E[z_j | x_j]``, the inference network's mean, and
``score(i, j) = u_iᵀ v_j``.

The rating term over all ``n_users × n_warm`` pairs is never materialised: for the items ``j`` of a batch,
``Σ_i c_ij (r_ij − u_iᵀv_j)² = b · v_jᵀ (UᵀU) v_j + Σ_{i observed} [a (1 − u_iᵀv_j)² − b (u_iᵀv_j)²]`` — one
``d × d`` Gram matrix and a correction on the batch's observed pairs (exact, at any data-set size).

Deliberate differences:

- Training is joint and stochastic: one Adam optimiser on the whole objective (the Pyro model/guide pair's
  ELBO plus the PMF factors), over batches of warm items with every user in the rating term, instead of
  alternating VAE steps with closed-form ALS sweeps; ``U`` and ``V`` are therefore fitted by gradient steps.
  Their ``v`` coupling weight in the VAE step is ``λ_v/λ_r`` on ``‖v − z‖²`` while their ALS step uses
  ``λ_v/2``; we use the paper's ``λ_v/2`` for both.
- Pre-training: ``pretrain_epochs`` epochs of the whole VAE on the content ELBO, Adam at ``pretrain_lr`` = 0.01
  (theirs, also at lr 0.01: layer-wise denoising stages on 0.3-masked input, then 100 epochs of the whole VAE;
  no layer-wise stage and no masking here).
- Content: theirs is a normalised bag of words with a Bernoulli (sigmoid cross-entropy) likelihood. Ours is
  ``dense_content(ds)`` as input; the likelihood is Bernoulli on the binary multi-hot attribute block (the same
  kind of data as theirs) and, where the data set has images, a Gaussian with scale ``1/√D`` (the spread of a
  unit vector's coordinates) on the centred, unit-length image block, masked for items without an image.
- Only warm items are trained on (their runs train the VAE on every item's content, test items' included);
  cold items get nothing but their content's posterior mean.
- ``d`` = 64 (the M²VAE paper's common width for all methods; theirs ``K = 50``); hidden widths
  ``[hidden, hidden / 2]`` = ``[200, 100]``.
- At most ``settings.epochs`` epochs with validation HR@5 early stopping (theirs: 100 epochs, no validation).
"""

from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.nn import PyroModule
from torch import nn
from torch.nn import functional as F

from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..nn.content import dense_content
from ..programs.elbo import MeanFieldELBO
from .base import Settings, TrainedBaseline, warm_item_batches


class _Nets(nn.Module):
    """Inference network ``x → [h, h/2] → (μ, log σ²)`` and the generation network ``z → h/2 → h → x`` whose last
    two layers reuse the transposed inference weights (and the first inference bias), as theirs."""

    def __init__(self, x_dim: int, d: int, hidden: int):
        super().__init__()
        self.l1, self.l2 = nn.Linear(x_dim, hidden), nn.Linear(hidden, hidden // 2)
        self.z_loc, self.z_logvar = nn.Linear(hidden // 2, d), nn.Linear(hidden // 2, d)
        self.g2 = nn.Linear(d, hidden // 2)
        self.x_bias = nn.Parameter(torch.zeros(x_dim))
        for layer in (self.l1, self.l2, self.z_loc, self.z_logvar, self.g2):
            nn.init.xavier_uniform_(layer.weight), nn.init.zeros_(layer.bias)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | x)``: loc and scale ``[B, d]``."""
        h = torch.sigmoid(self.l2(torch.sigmoid(self.l1(x))))
        return self.z_loc(h), (0.5 * self.z_logvar(h).clamp(-10, 10)).exp()

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The content's likelihood parameters ``[B, x_dim]`` (attribute logits, then image means)."""
        h = torch.sigmoid(F.linear(torch.sigmoid(self.g2(z)), self.l2.weight.T, self.l1.bias))
        return F.linear(h, self.l1.weight.T, self.x_bias)

    def weight_penalty(self) -> torch.Tensor:
        """Their ``2e-4 ·`` (``l2_loss`` of ``W1`` and ``W2`` in both networks) ``= 2e-4 · (‖W1‖² + ‖W2‖²)``."""
        return self.l1.weight.pow(2).sum() + self.l2.weight.pow(2).sum()


class _Parts(nn.Module):
    """Everything the model and the guide read: the networks, ``U``, ``V``, the content and the observed pairs."""

    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, a: float, b: float,
                 lambda_u: float, lambda_v: float, lambda_r: float):
        super().__init__()
        self.d, self.a, self.b = settings.d, a, b
        self.lambda_u, self.lambda_v, self.lambda_r = lambda_u, lambda_v, lambda_r
        content = dense_content(ds)
        self.n_attr = ds.n_attributes
        self.register_buffer("content", content, persistent=False)
        self.register_buffer("attributes", (content[:, :self.n_attr] > 0).to(content.dtype), persistent=False)
        with_image = content.shape[1] > self.n_attr  # an image block: unit rows, zeros where an item has none
        self.register_buffer("images", content[:, self.n_attr:] if with_image else None, persistent=False)
        self.register_buffer("has_image", torch.from_numpy(ds.modalities["image"].present) if with_image else None,
                             persistent=False)
        self.image_scale = max(content.shape[1] - self.n_attr, 1) ** -0.5
        self._observed(ds, split)
        self.nets = _Nets(content.shape[1], settings.d, settings.hidden)
        self.user_latent = nn.Parameter(0.1 * torch.randn(ds.n_users, settings.d))
        self.item_latent = nn.Parameter(0.1 * torch.randn(ds.n_items, settings.d))  # warm rows only are used

    def _observed(self, ds: Dataset, split: ColdStartSplit) -> None:
        """Each item's warm positive users as CSR (``indptr`` over all items, deduplicated), built once."""
        users, items = split.positives("train")
        keys = np.unique(items.astype(np.int64) * ds.n_users + users)
        items, users = keys // ds.n_users, keys % ds.n_users
        indptr = np.zeros(ds.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(items, minlength=ds.n_items), out=indptr[1:])
        self.register_buffer("obs_indptr", torch.from_numpy(indptr), persistent=False)
        self.register_buffer("obs_users", torch.from_numpy(users), persistent=False)

    def observed_pairs(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The observed pairs of a batch of items: (row in the batch, user), both ``[P]``."""
        starts, lengths = self.obs_indptr[items], self.obs_indptr[items + 1] - self.obs_indptr[items]
        rows = torch.repeat_interleave(torch.arange(len(items)), lengths)
        first = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
        return rows, self.obs_users[first + torch.arange(len(rows))]

    def weighted_squared_errors(self, items: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``Σ_i c_ij (r_ij − u_iᵀ v_j)²`` over *all* users for each item ``j`` of the batch ``[B]``, through the
        Gram matrix ``UᵀU`` (every pair as unobserved) and a correction on the observed pairs."""
        u = self.user_latent
        unobserved = self.b * ((v @ (u.T @ u)) * v).sum(-1)
        rows, users = self.observed_pairs(items)
        s = (u[users] * v[rows]).sum(-1)
        return unobserved.index_add(0, rows, self.a * (1 - s).pow(2) - self.b * s.pow(2))


class _Model(PyroModule):
    def __init__(self, parts: _Parts, n_warm: int):
        super().__init__()
        self.parts, self.n_warm = parts, n_warm

    def forward(self, pos: torch.Tensor, items: torch.Tensor, coupled: bool = True) -> None:
        """``coupled=False``: the content VAE alone (pre-training), without ``v``, ratings and users."""
        o, k = self.parts, self.parts.n_attr
        with pyro.plate("items", self.n_warm, subsample=pos):
            with poutine.scale(scale=o.lambda_r):
                loc = o.content.new_zeros(len(items), o.d)
                z = pyro.sample("z", dist.Normal(loc, torch.ones_like(loc)).to_event(1))
                out = o.nets.generate(z)
                pyro.sample("attributes", dist.Bernoulli(logits=out[:, :k]).to_event(1), obs=o.attributes[items])
                if o.images is not None:
                    with poutine.mask(mask=o.has_image[items]):
                        pyro.sample("image", dist.Normal(out[:, k:], o.image_scale).to_event(1), obs=o.images[items])
            if not coupled:
                return
            v = o.item_latent[items]
            pyro.sample("v", dist.Normal(z, o.lambda_v ** -0.5).to_event(1), obs=v)  # λ_v/2 ‖v − z‖² + const
            pyro.factor("ratings", -0.5 * o.weighted_squared_errors(items, v))
        pyro.factor("users", -0.5 * o.lambda_u * o.user_latent.pow(2).sum())


class _Guide(PyroModule):
    def __init__(self, parts: _Parts, n_warm: int):
        super().__init__()
        self.parts, self.n_warm = parts, n_warm

    def forward(self, pos: torch.Tensor, items: torch.Tensor, coupled: bool = True) -> None:
        o = self.parts
        with pyro.plate("items", self.n_warm, subsample=pos), poutine.scale(scale=o.lambda_r):
            pyro.sample("z", dist.Normal(*o.nets.posterior(o.content[items])).to_event(1))


class CVAE(TrainedBaseline):
    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, a: float = 1.0, b: float = 0.01,
                 lambda_u: float = 0.1, lambda_v: float = 10.0, lambda_r: float = 1.0, item_batch_size: int = 128,
                 pretrain_epochs: int = 50, pretrain_lr: float = 0.01):
        super().__init__(ds, split, settings)
        pyro.settings.set(module_local_params=True)
        self.item_batch_size, self.pretrain_epochs, self.pretrain_lr = item_batch_size, pretrain_epochs, pretrain_lr
        self.register_buffer("warm", torch.from_numpy(split.items("train")), persistent=False)
        self.parts = _Parts(ds, split, settings, a, b, lambda_u, lambda_v, lambda_r)
        self._pair = (_Model(self.parts, len(self.warm)), _Guide(self.parts, len(self.warm)))  # not registered twice
        self._elbo = MeanFieldELBO()  # Pyro's TraceMeanField_ELBO, log-densities only where it reads them

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        """Pre-train the VAE on the warm items' content alone, then start each ``v_j`` at ``E[z_j | x_j]``."""
        optim = torch.optim.Adam(self.parts.nets.parameters(), lr=self.pretrain_lr)
        for epoch in range(self.pretrain_epochs):
            # a seed of its own (as pretrain_mf's), apart from fit's epochs
            for pos in warm_item_batches(len(self.warm), self.settings.seed + 10_000, epoch, self.item_batch_size):
                loss = self.objective(pos, coupled=False)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
        with torch.no_grad():
            self.parts.item_latent[self.warm] = self.item_vectors(self.warm)

    def batches(self, sampler: TripleSampler, epoch: int):
        return warm_item_batches(len(self.warm), self.settings.seed, epoch, self.item_batch_size)

    def objective(self, pos: torch.Tensor, coupled: bool = True) -> torch.Tensor:
        """The negative ELBO per warm item, plus the weight decay."""
        elbo = self._elbo.differentiable_loss(*self._pair, pos, self.warm[pos], coupled)
        return elbo / len(self.warm) + 2e-4 * self.parts.nets.weight_penalty()

    def loss(self, pos: torch.Tensor) -> torch.Tensor:
        return self.objective(pos)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """``E[z | x]`` ``[I, d]``: a cold item's ``v``."""
        return self.parts.nets.posterior(self.parts.content[items])[0]

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.parts.user_latent[users] @ self.item_vectors(items).T


MODEL = CVAE
DEFAULTS = dict(lr=1e-3, d=64, hidden=200, a=1.0, b=0.01, lambda_u=0.1, lambda_v=10.0, lambda_r=1.0,
                item_batch_size=128, pretrain_epochs=50, pretrain_lr=0.01)
# the published lr and 3× it (a short epoch cap for gradient-fitted U, V), both widths, λ_v published and ÷10
GRID = {"lr": [1e-3, 3e-3], "d": [64, 128], "lambda_v": [10.0, 1.0]}
# `m2vae tune ml-100k --model cvae --seeds 2 --epochs 40 --set patience=15` (benchmarks/RESULTS.md, issue 20)
TUNED = {"movielens": dict(lr=1e-3, d=64, lambda_v=10.0)}
