"""GoRec (Bai, Hou, Wu, Yang, Zhang, Hong and Wang, "GoRec: A Generative Cold-start Recommendation Framework",
ACM Multimedia 2023). Reference code: ``HaoyueBai98/GoRec``, ``model/gorec_model.py``, ``session/gorec_session.py``,
``loader/ae_loader.py``, ``criterion.py`` and the defaults of ``main/gorec.py``.

A conditional VAE over the *pre-trained* CF embedding ``e_i`` of each warm item (one training row per item),
conditioned on its L2-normalised multimedia content ``c_i``:

- posterior ``q(z | e_i, c_i)``: ``[c_i; e_i] → Linear (no bias) → BatchNorm → tanh →`` (μ, log σ²) heads;
- content-conditioned prior ``p(z | c_i)``: (μ, log σ²) linear heads on ``c_i``;
- generator ``ê_i = G([dropout_0.3(c_i); z])``: ``Linear (no bias) → BatchNorm → tanh → Linear → Linear``.

Objective (per batch): ``MSE(ê, e) + 5 · uniformity(μ) + 10 · KL(q(z | e, c) ‖ p(z | c))`` (``uni_coeff`` 5,
``kl_coeff`` 10: the code's defaults and its README's Baby values; Sports 15 / 5000, Clothing 1 / 5000), where
``uniformity(μ) = log mean_{j<k} exp(−2 ‖μ̂_j − μ̂_k‖²)`` over the unit-normalised posterior means of the batch
(Wang & Isola's uniformity), Adam at lr 1e-3, batch 256. As a Pyro pair: ``e ~ N(ê, 1/√2)`` makes the
likelihood term the squared error, and the ``z`` sites are scaled by the KL weight, so that the mean-field ELBO
over ``N·d`` elements is ``MSE + kl · KL`` (both averaged per element, as ``MSELoss`` and ``KLDivLoss``'s
``mean``); uniformity is added to it.

Inference for a cold item (``evaluate_model``): its *cluster-mean CF embedding* — the items are clustered (the
repository ships the labels, e.g. 2,000 clusters for Baby's 7,050 items, ~3.5 items each; the M²VAE paper's
complexity table lists k-means for GoRec), and an item's input is the mean pre-trained embedding of its
cluster — goes through the posterior with the item's content, and ``ê = G([c; μ])`` (``z = μ``, no dropout) is
scored against the frozen pre-trained users: ``score(u, i) = U_u · ê_i``.

Deliberate differences:

- CF backbone: our BPR-MF on the warm split (``pretrain_mf``, ``d``-dimensional) instead of their default
  VSGCL embeddings (their loader also takes MF, LightGCN, VBPR, …; GoRec is backbone-agnostic).
- Content: ``dense_content(ds)`` (multi-hot attributes and centred image features, each block L2-normed), then
  L2-normalised per row as they normalise their concatenated image and text features.
- Clusters: their labels come with the data and their clustering is not in the code; we run k-means (Lloyd,
  content only, all items, ``k = ⌈n_items / cluster_size⌉`` with their ~3.5 items per cluster). Their cluster
  mean averages every item's pre-trained row, cold items' included; ours averages warm items only (cold items
  must get nothing from interactions), and a cluster without warm items gets the mean of all warm items.
- KL: their code calls ``torch.nn.KLDivLoss()(z, zgc)`` on two *samples* (not log-probabilities), which is not a
  divergence between the distributions (under current PyTorch it is NaN for negative entries); we use the
  Gaussian KL between the posterior and the content-conditioned prior, the KL term of a CVAE's ELBO.
- Budget: at most ``settings.epochs`` epochs (one shuffled pass over the warm items each) with validation HR@5
  early stopping (theirs: up to 2,000 epochs, early stop after 15 evaluations on validation NDCG@10).
- Log-variances are clamped to ``[-10, 10]`` so that no scale over- or underflows.
"""

from __future__ import annotations

import math

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
from .base import Settings, TrainedBaseline, pretrain_mf, warm_item_batches


def kmeans(x: torch.Tensor, k: int, seed: int, iters: int = 20, chunk: int = 4096) -> torch.Tensor:
    """Lloyd's k-means of the rows of ``x`` ``[n, D]`` from ``k`` distinct random rows: labels ``[n]``."""
    k = min(k, len(x))
    centres = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:k]].clone()
    sparse = bool((x != 0).float().mean() < 0.05)  # multi-hot rows: the products over their non-zeros only
    parts = [part.to_sparse() if sparse else part for part in x.split(chunk)]
    for _ in range(iters):
        half_norms = centres.pow(2).sum(1) / 2  # argmin ‖x − c‖² = argmax x·c − ‖c‖²/2, chunked: [chunk, k]
        labels = torch.cat([(part @ centres.T - half_norms).argmax(1) for part in parts])
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        kept = counts > 0  # an emptied cluster keeps its centre
        centres[kept] = sums[kept] / counts[kept, None]
    return labels


def cluster_means(labels: torch.Tensor, emb: torch.Tensor, warm: torch.Tensor) -> torch.Tensor:
    """``[n_items, d]``: for each item the mean of ``emb`` over the *warm* items of its cluster (the mean of all
    warm items where its cluster has none)."""
    k = int(labels.max()) + 1
    counts = torch.bincount(labels[warm], minlength=k)[:, None]
    sums = torch.zeros(k, emb.shape[1]).index_add_(0, labels[warm], emb[warm])
    means = torch.where(counts > 0, sums / counts.clamp_min(1), emb[warm].mean(0))
    return means[labels]


def uniformity(x: torch.Tensor) -> torch.Tensor:
    """``log mean_{j<k} exp(−2 ‖x̂_j − x̂_k‖²)`` of the unit-normalised rows of ``x`` ``[B, d]`` (a scalar)."""
    return torch.pdist(F.normalize(x, dim=-1)).pow(2).mul(-2).exp().mean().log()


def _gaussian(loc: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return loc, (0.5 * logvar.clamp(-10, 10)).exp()


class _Nets(nn.Module):
    """The networks of the model and the guide: posterior, content prior and generator (``d`` wide throughout,
    as their ``latent_dim = z_size = 64``)."""

    def __init__(self, c_dim: int, d: int, dropout: float):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(c_dim + d, d, bias=False), nn.BatchNorm1d(d), nn.Tanh())
        self.post_loc, self.post_logvar = nn.Linear(d, d), nn.Linear(d, d)
        self.prior_loc, self.prior_logvar = nn.Linear(c_dim, d), nn.Linear(c_dim, d)
        self.generator = nn.Sequential(nn.Linear(c_dim + d, d, bias=False), nn.BatchNorm1d(d), nn.Tanh(),
                                       nn.Linear(d, d), nn.Linear(d, d))
        self.drop = nn.Dropout(dropout)

    def posterior(self, e: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | e, c)``: loc and scale ``[B, d]``."""
        h = self.encoder(torch.cat([c, e], dim=-1))
        return _gaussian(self.post_loc(h), self.post_logvar(h))

    def prior(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(z | c)``: loc and scale ``[B, d]``."""
        return _gaussian(self.prior_loc(c), self.prior_logvar(c))

    def generate(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([c, z], dim=-1))


class _Model(PyroModule):
    def __init__(self, nets: _Nets, n_warm: int, kl_weight: float):
        super().__init__()
        self.nets, self.n_warm, self.kl_weight = nets, n_warm, kl_weight

    def forward(self, pos: torch.Tensor, e: torch.Tensor, c: torch.Tensor, post) -> None:
        o = self.nets
        with pyro.plate("items", self.n_warm, subsample=pos):
            with poutine.scale(scale=self.kl_weight):
                z = pyro.sample("z", dist.Normal(*o.prior(c)).to_event(1))
            # scale 1/√2: −log N(e; ê, ½) = (e − ê)² + const, the MSE of their code once divided by N·d
            pyro.sample("e", dist.Normal(o.generate(z, o.drop(c)), 0.5 ** 0.5).to_event(1), obs=e)


class _Guide(PyroModule):
    def __init__(self, n_warm: int, kl_weight: float):
        super().__init__()
        self.n_warm, self.kl_weight = n_warm, kl_weight

    def forward(self, pos: torch.Tensor, e: torch.Tensor, c: torch.Tensor, post) -> None:
        with pyro.plate("items", self.n_warm, subsample=pos), poutine.scale(scale=self.kl_weight):
            pyro.sample("z", dist.Normal(*post).to_event(1))


class GoRec(TrainedBaseline):
    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, uniformity_weight: float = 5.0,
                 kl_weight: float = 10.0, dropout: float = 0.3, item_batch_size: int = 256, cluster_size: float = 3.5):
        super().__init__(ds, split, settings)
        pyro.settings.set(module_local_params=True)
        d = settings.d
        self.uniformity_weight, self.item_batch_size = uniformity_weight, item_batch_size
        self.cluster_size = cluster_size
        self.register_buffer("warm", torch.from_numpy(split.items("train")), persistent=False)
        self.register_buffer("content", F.normalize(dense_content(ds), dim=1), persistent=False)
        self.register_buffer("pref_users", torch.zeros(ds.n_users, d))
        self.register_buffer("pref_items", torch.zeros(ds.n_items, d))
        self.register_buffer("cluster_mean", torch.zeros(ds.n_items, d))
        self.nets = _Nets(self.content.shape[1], d, dropout)
        n = len(self.warm)
        self._pair = (_Model(self.nets, n, kl_weight), _Guide(n, kl_weight))  # a tuple: not registered twice
        self._elbo = MeanFieldELBO()  # Pyro's TraceMeanField_ELBO, log-densities only where it reads them

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        users, items = pretrain_mf(self.ds, sampler, self.settings, progress=progress)
        self.pref_users.copy_(users), self.pref_items.copy_(items)
        labels = kmeans(self.content, math.ceil(self.ds.n_items / self.cluster_size), self.settings.seed)
        self.cluster_mean.copy_(cluster_means(labels, items, self.warm))

    def batches(self, sampler: TripleSampler, epoch: int):
        return warm_item_batches(len(self.warm), self.settings.seed, epoch, self.item_batch_size)

    def loss(self, pos: torch.Tensor) -> torch.Tensor:
        items = self.warm[pos]
        e, c = self.pref_items[items], self.content[items]
        post = self.nets.posterior(e, c)  # one encoder pass: the guide's distribution and the uniformity's μ
        elbo = self._elbo.differentiable_loss(*self._pair, pos, e, c, post)
        return elbo / (len(self.warm) * self.settings.d) + self.uniformity_weight * uniformity(post[0])

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """``ê = G([c; μ(cluster-mean e, c)])`` ``[I, d]``: what a cold item is scored with."""
        c = self.content[items]
        loc, _ = self.nets.posterior(self.cluster_mean[items], c)
        return self.nets.generate(loc, c)

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.pref_users[users] @ self.item_vectors(items).T


MODEL = GoRec
DEFAULTS = dict(lr=1e-3, d=64, uniformity_weight=5.0, kl_weight=10.0, dropout=0.3, item_batch_size=256,
                cluster_size=3.5)
# the published lr and 3× it (our epoch cap is short), both widths, and the KL weights of Baby (10) and Sports (5000)
GRID = {"lr": [1e-3, 3e-3], "d": [64, 128], "kl_weight": [10.0, 5000.0]}
# `m2vae tune ml-100k --model gorec --seeds 2 --epochs 40 --set patience=15` (benchmarks/RESULTS.md, issue 20)
TUNED = {"movielens": dict(lr=3e-3, d=128, kl_weight=5000.0)}
# Published values for Amazon data (issue 31's rule: these, else the ml-100k-tuned preset): HaoyueBai98/GoRec
# README: its datasets are Amazon Baby, Clothing, Sports; the Sports values (the one of our sets it used) for every
# Amazon set
PUBLISHED = {"amazon": dict(lr=1e-3, d=64, uniformity_weight=15.0, kl_weight=5000.0, dropout=0.3, item_batch_size=256)}
