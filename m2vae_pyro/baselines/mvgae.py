"""MVGAE: Yi & Chen, "Multi-modal Variational Graph Auto-encoder for Recommendation Systems", IEEE Transactions on
Multimedia 24 (2021/2022). Reference code: ``jing-1/MVGAE``, files ``Model.py`` (GCN, MVGAE, ProductOfExperts) and
``BaseModel.py`` (the graph convolution); the repository has no training script, data loader or configuration.

Method. One variational graph encoder per modality over the user–item graph: node inputs are a user preference
matrix stacked on the item's modality features (projected by an MLP to 128), L2-normalised, then GCN layers with a
linear skip (``conv`` ‖ ``linear`` → ``g``) and two GCN heads for ``μ_m`` and ``log σ²_m`` of every node. A
collaborative expert is the same encoder over a learned item id embedding. The experts' Gaussians are fused by a
product of experts (``Model.py`` fuses the content experts first, then with the collaborative one: the same
Gaussian as one flat PoE). Decoder: ``s(u, i) = ⟨z_u, z_i⟩``.

Objective (``MVGAE.loss``), per batch of (user, positive item, negative items):
``L = Σ_{e ∈ {PoE, m..., id}} [ −Σ_b log₂ σ(⟨z_u, z_i⁺⟩ − max_k ⟨z_u, z_{i_k⁻}⟩) + KL(q_e ‖ N(0, I)) ]``, the KL
averaged over nodes, ``z_e ~ N(μ_e, (0.1 σ_e)²)``; on Amazon data ``z`` goes through a sigmoid first. Written here
as a Pyro model/guide pair: one latent site per expert and one for the fused Gaussian, standard-normal priors in a
node plate scaled by ``1 / n_nodes``, the ranking terms as factors, ``TraceMeanField_ELBO`` (analytic KL).

Inference for a cold item: it has no edge (the graph holds only warm training pairs), so each content expert sees
only the item's own features through its self-loop; its id expert is left out of the product (an item without
interactions has no collaborative evidence), so the item's embedding is the PoE mean of its content experts.
Users: the PoE mean of all experts.

Deliberate differences from the published code, and why:
- Modalities: our attribute multi-hot vector (L2-normed) and image features (centred, unit rows) as the
  ``v``/``t`` experts, instead of their visual and textual features; an expert per modality the data set has.
- ``preference`` and ``collaborative`` are learned parameters. In ``Model.py`` they are plain tensors (not
  ``nn.Parameter``) moved with ``.to(device)``, so the optimiser never updates them — read as an oversight.
- The id expert is masked out of the product for items without a training edge (see above); ``Model.py`` has
  no cold path and would fuse a random, untrained id vector.
- The KL is the ELBO's KL of the posterior that is sampled, ``N(μ, (0.1 σ)²)``; ``Model.py`` samples with the
  0.1 factor but computes the KL without it. Only warm graph nodes (users, items with edges) are in the KL plate:
  cold items' content is never used in training.
- The ranking term ranks users for an item (M²VAE's triples: item, positive user, one negative user), where
  ``Model.py`` ranks items for a user against the hardest of sampled negative items. Our protocol ranks the users
  of each cold item, so scores must be comparable across users; trained on item negatives (a first version), the
  3-epoch ML-100K test HR@5 was 0.039, random level. The loss is divided by the batch length (Adam is
  scale-invariant; the relative weights of the terms are unchanged).
- Unknown, since no training script is published: ``n_layers`` (their ``num_layer``; 1 here, so ``μ`` and
  ``log σ²`` see two hops), ``concate`` (True, the default of MMGCN on which the code is built), the learning rate
  (our shared 1e-3; searched in GRID) and ``aggr`` ('add', the symmetric-normalised propagation ``BaseModel`` uses).
"""

from __future__ import annotations

import math

import pyro
import torch
from pyro import poutine
from pyro.nn import PyroModule
from torch import nn
from torch.nn import functional as F

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.split import ColdStartSplit
from ..nn.content import image_matrix
from ..nn.dropout import dropout
from ..nn.experts import poe
from ..nn.gaussian import normal, standard_normal
from ..programs.elbo import MeanFieldELBO
from .base import Settings, TrainedBaseline
from .graph import EvalCache, normalized_adjacency, symmetric_product, to_csr, warm_pairs

MAX_LOGVAR = 10.0
SAMPLE_SCALE = 0.1  # Model.reparametrize: z = μ + 0.1 σ ε


class GraphConv(nn.Module):
    """``BaseModel``: ``normalize(Â X W + b)`` then dropout 0.1 (Â with self-loops, symmetric-normalised).

    It takes ``Â X`` already propagated and computes ``(Â X) W``: the same product as ``Â (X W)``, but the ``μ`` and
    ``log σ²`` heads read the same ``X``, so they share one sparse product (the sparse products dominate a step).
    """

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(d_in, d_out)))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, ax: torch.Tensor) -> torch.Tensor:
        h = F.normalize(torch.addmm(self.bias, ax, self.weight), dim=-1)
        return dropout(h, 0.1, self.training)  # F.dropout's mask, drawn by torch.rand (nn/dropout.py)


class SkipLayer(nn.Module):
    """One ``GCN`` step of ``Model.py`` with ``concate``: ``g([lrelu(conv(x)) ‖ lrelu(linear(x))])``."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.conv, self.linear, self.g = GraphConv(d_in, d_out), nn.Linear(d_in, d_out), nn.Linear(2 * d_out, d_out)

    def forward(self, ax: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``ax = Â x``, the graph-propagated ``x``. ``g`` of the concatenation is computed as the sum of its two
        halves' products (the same values up to float summation order), without copying both ``[n_nodes, d]``
        inputs into a ``[n_nodes, 2d]`` one and back in the backward pass."""
        d = self.g.in_features // 2
        return torch.addmm(self.g.bias, F.leaky_relu(self.conv(ax)), self.g.weight[:, :d].T).addmm_(
            F.leaky_relu(self.linear(x)), self.g.weight[:, d:].T)


class GraphExpert(nn.Module):
    """One variational graph encoder: ``(μ, log σ²)`` ``[n_users + n_items, d]`` from one kind of item input."""

    def __init__(self, n_users: int, d_item: int, d: int, latent: int, n_layers: int):
        super().__init__()
        self.preference = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_users, latent)))
        self.mlp = nn.Linear(d_item, latent)
        dims = [latent] + [d] * n_layers
        self.layers = nn.ModuleList(SkipLayer(a, d) for a in dims[:-1])
        self.mu, self.logvar = SkipLayer(dims[-1], d), SkipLayer(dims[-1], d)

    def forward(self, adj: torch.Tensor, item_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.normalize(torch.cat([self.preference, self.mlp(item_x)]), dim=-1)
        for layer in self.layers:
            x = F.leaky_relu(layer(symmetric_product(adj, x), x))
        ax = symmetric_product(adj, x)
        return self.mu(ax, x), self.logvar(ax, x).clamp(max=MAX_LOGVAR)


def ranking_loss(z: torch.Tensor, item: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """``MVGAE.recon_loss`` over users: ``−Σ log₂ σ(⟨z_i, z_u⁺⟩ − max_k ⟨z_i, z_{u_k⁻}⟩)``.

    Node indices: ``item`` ``[B]``, ``pos`` ``[B]``, ``neg`` ``[B, K]`` (the hardest of ``K`` negatives, as
    ``dot_product_decode_neg``; our triples give ``K = 1``).
    """
    zi = z[item]
    s_pos = (zi * z[pos]).sum(-1)
    s_neg = torch.einsum("bd,bkd->bk", zi, z[neg]).max(-1).values
    return -F.logsigmoid(s_pos - s_neg).sum() / math.log(2.0)


class _Model(PyroModule):
    def __init__(self, owner: MVGAE):
        super().__init__()
        object.__setattr__(self, "owner", owner)  # a back-reference, not a submodule

    def forward(self, enc: dict, batch: TripleBatch) -> None:
        o = self.owner
        n, d = len(o.graph_nodes), o.settings.d
        item, pos, neg = o.node_batch(batch)
        for site in enc:
            with pyro.plate(f"nodes_{site}", n), poutine.scale(scale=o.kl_weight / n):  # KL averaged over nodes
                z = pyro.sample(site, standard_normal(torch.zeros(n, d)))
            z = torch.zeros(o.n_nodes, d).index_copy(0, o.graph_nodes, z)
            z = torch.sigmoid(z) if o.squash else z
            pyro.factor(f"rank_{site}", -ranking_loss(z, item, pos, neg))


class _Guide(PyroModule):
    def __init__(self, owner: MVGAE):
        super().__init__()
        object.__setattr__(self, "owner", owner)  # a back-reference, not a submodule

    def forward(self, enc: dict, batch: TripleBatch) -> None:
        n = len(self.owner.graph_nodes)
        for site, (mu, logvar) in enc.items():
            with pyro.plate(f"nodes_{site}", n), poutine.scale(scale=self.owner.kl_weight / n):
                pyro.sample(site, normal(mu, logvar + 2.0 * math.log(SAMPLE_SCALE)))  # σ scaled by 0.1


class MVGAE(EvalCache, TrainedBaseline):
    """Per-modality variational GCN experts fused by a product of experts, trained on warm interactions only."""

    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, latent: int = 128, n_layers: int = 1,
                 id_dim: int = 64, kl_weight: float = 1.0):
        super().__init__(ds, split, settings)
        pyro.settings.set(module_local_params=True)
        users, items = warm_pairs(split)
        self.n_users, self.n_nodes = ds.n_users, ds.n_users + ds.n_items
        self.kl_weight = kl_weight
        self.squash = ds.family == "amazon"  # Model.py: sigmoid embeddings on the sparser Amazon data
        # CSR: a quarter faster than COO in the sparse × dense products of every step, and the same values; the
        # products go through symmetric_product, whose backward needs no transpose
        adj = to_csr(normalized_adjacency(users, items, ds.n_users, ds.n_items))
        self.register_buffer("adj", adj, persistent=False)
        has_edge = torch.zeros(ds.n_items, dtype=torch.bool)
        has_edge[torch.from_numpy(items)] = True
        self.register_buffer("id_present", torch.cat([torch.ones(ds.n_users, dtype=torch.bool), has_edge]),
                             persistent=False)
        self.register_buffer("graph_nodes", self.id_present.nonzero().squeeze(1), persistent=False)
        inputs = {"attributes": F.normalize(torch.from_numpy(ds.attribute_matrix()), dim=1)}
        image = ds.modalities.get("image")
        if image is not None and image.features is not None:
            inputs["image"] = image_matrix(image.features, image.present, "center_l2")
        for name, x in inputs.items():
            self.register_buffer(f"input_{name}", x, persistent=False)
        self.content_names = list(inputs)
        self.collaborative = nn.Parameter(nn.init.xavier_normal_(torch.empty(ds.n_items, id_dim)))
        d = settings.d
        self.experts = nn.ModuleDict({name: GraphExpert(ds.n_users, x.shape[1], d, latent, n_layers)
                                      for name, x in inputs.items()})
        self.experts["id"] = GraphExpert(ds.n_users, id_dim, d, latent, n_layers)
        self._pair = (_Model(self), _Guide(self))  # a tuple: not registered as submodules
        self._elbo = MeanFieldELBO()  # Pyro's TraceMeanField_ELBO, log-densities only where it reads them

    def encode(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every expert's ``(μ, log σ²)`` over all nodes, and their product ``"z"``, all ``[n_nodes, d]``."""
        out = {name: self.experts[name](self.adj, getattr(self, f"input_{name}")) for name in self.content_names}
        out["id"] = self.experts["id"](self.adj, self.collaborative)
        present = torch.stack([torch.ones_like(self.id_present)] * len(self.content_names) + [self.id_present])
        mu, logvar = poe(torch.stack([m for m, _ in out.values()]), torch.stack([v for _, v in out.values()]),
                         present)
        return {"z": (mu, logvar), **out}

    def node_batch(self, batch: TripleBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Node indices of the triples' items, positive users and negative users ``[B, 1]``."""
        return batch.items + self.n_users, batch.pos_users, batch.neg_users[:, None]

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        enc = {site: (mu[self.graph_nodes], logvar[self.graph_nodes]) for site, (mu, logvar) in self.encode().items()}
        return self._elbo.differentiable_loss(*self._pair, enc, batch) / len(batch.items)

    def embeddings(self) -> torch.Tensor:
        """The fused posterior means ``[n_nodes, d]`` (``result_embed``)."""
        mu = self.encode()["z"][0]
        return torch.sigmoid(mu) if self.squash else mu

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        z = self.cached(self.embeddings)
        return z[users] @ z[items + self.n_users].T


MODEL = MVGAE
# lr/d/kl_weight: Model.py fixes latent 128, id 64 and a KL weight of 1; its training script is unpublished.
DEFAULTS = dict(lr=1e-3, d=64, latent=128, n_layers=1, id_dim=64, kl_weight=1.0)
# the unknown learning rate, the two embedding sizes, and the KL weight against the ranking terms (1 as published).
GRID = {"lr": [1e-3, 3e-4], "d": [64, 128], "kl_weight": [1.0, 0.1]}
# `m2vae tune ml-100k --model mvgae --seeds 2 --epochs 40 --set patience=15` (benchmarks/RESULTS.md, issue 20):
# validation HR@5 0.2354 against 0.2181 at the published point (lr 1e-3, d 64, KL weight 1)
TUNED = {"movielens": dict(lr=1e-3, d=128, kl_weight=0.1)}
