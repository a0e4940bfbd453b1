"""LARA (Sun, Liu, Liu, Ren, Gan and Nie, "LARA: Attribute-to-feature Adversarial Learning for New-item
Recommendation", WSDM 2020). Reference code: the authors' ``changfengsun/LARA`` (TensorFlow; its ``LARA.zip`` is
absent from the snapshot we could read), so the details come from the PyTorch re-implementations
``zyk9916/LARA`` ``model.py``/``test.py`` (which follow the TF code's hyperparameters and data files) and the port
``YuanchenBei/ColdRec`` ``model/LARA.py``.

Users and items live in one attribute-level space (the paper: "both users and items are attribute-level
representations"): an item is its attribute vector ``a_i``; a user is the profile ``u`` of the attributes of the
items they liked. A generator ``G(a_i)`` (per-attribute embeddings, then three tanh layers of width 100, output in
the profile space) produces the user an item would be liked by; a discriminator ``D(u, a_i)`` (three tanh layers
on ``[a_i ; u]``, a logit) tells real pairs from generated and negative ones::

    L_D = −log D(u⁺, a_i) − log(1 − D(G(a_i), a_i)) − log(1 − D(u⁻, a_i)),   L_G = −log D(G(a_i), a_i),

with ``u⁺`` a user who liked ``i`` and ``u⁻`` one who did not. Training alternates a whole epoch of discriminator
steps with a whole epoch of generator steps, each net with its own Adam (lr 1e-4, batch 1024, no weight decay).
A cold item is scored by the similarity of its generated user with every real user: ``score(u, i) = u · G(a_i)``.

Deliberate differences:
- the item attributes are our fixed ``dense_content(ds)`` (multi-hot attributes and, where present, centred image
  features, each block L2-normed), so that LARA reads the same content as every other baseline. LARA's per-attribute
  embeddings (one vector for "has attribute k", one for "has not", concatenated) followed by a linear layer are an
  affine map of the multi-hot vector, so a first linear layer on it is the same generator/discriminator input;
- a user's profile is the user–attribute matrix ``R · A`` of their warm training positives (the sum of their items'
  content, divided by the mean user degree; computed once, fixed). The reference reads it from a prepared file
  (18 columns on MovieLens: one per genre) that we could not see; of the two readings, sum and mean, only the sum
  ranks users per item usefully (the mean favours the least active users: see :func:`user_profiles`);
- the discriminator ends in one logit (the paper's scalar ``D``); the re-implementations end in one logit per
  profile dimension, averaged in the BCE — the same label for each, so an ensemble of heads on one hidden layer;
- ``u⁻`` is the triple's negative user of the same item (the paper's formula conditions all three terms on one
  item) where the code draws negative (user, item) pairs from a separate list; positives are our seeded triples;
- one Adam (the one training loop's, ``train/trainer.py``) whose two parameter sets never get a gradient in the
  same step — the generator's output is detached in ``L_D`` and the discriminator's weights in ``L_G`` — so
  it acts as the two Adams of the code;
  at most ``epochs`` (D, G) epoch pairs with early stopping on validation HR@5 for their fixed 200–300;
- ``neg_weight`` scales the negative-user term of ``L_D`` (1 in the paper) so that the grid can vary it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..nn.content import dense_content
from .base import Settings, TrainedBaseline


def user_profiles(content: torch.Tensor, users: np.ndarray, items: np.ndarray, n_users: int) -> torch.Tensor:
    """``[n_users, C]``: the user–attribute matrix ``R · A`` of the (warm) training positives, over the mean degree.

    A sum, not a mean, so that a profile's length grows with the user's activity: ranked per item by ``u · G(a_i)``,
    mean profiles put the least active users first (validation HR@5 0.047 for ``mean · a_i`` on ML-100K seed 0,
    0.242 for ``sum · a_i``, both untrained, G the identity). The global scale keeps the discriminator's inputs
    near 1 and does not change any ranking.
    """
    u, i = torch.from_numpy(users.astype(np.int64)), torch.from_numpy(items.astype(np.int64))
    total = torch.zeros(n_users, content.shape[1]).index_add_(0, u, content[i])
    return total * (n_users / max(len(u), 1))

def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    layers = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                           nn.Linear(hidden, d_out))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)  # the reference's initialiser
    return layers


class LARA(TrainedBaseline):
    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, neg_weight: float = 1.0):
        super().__init__(ds, split, settings)
        self.neg_weight = neg_weight
        content = dense_content(ds)
        self.register_buffer("content", content, persistent=False)
        self.register_buffer("profiles", user_profiles(content, split.train_users, split.train_items, ds.n_users),
                             persistent=False)
        k, h = content.shape[1], settings.hidden
        self.generator = nn.Sequential(*_mlp(k, h, k), nn.Tanh())
        self.discriminator = _mlp(2 * k, h, 1)

    def generate(self, items: torch.Tensor) -> torch.Tensor:
        return self.generator(self.content[items])

    def judge(self, items: torch.Tensor, users: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """``D``'s logits ``[B]`` for (item, user vector) pairs; ``frozen``: no gradient reaches ``D``'s weights."""
        x = torch.cat([self.content[items], users], dim=-1)
        if frozen:
            weights = {name: p.detach() for name, p in self.discriminator.named_parameters()}
            return functional_call(self.discriminator, weights, (x,)).squeeze(-1)
        return self.discriminator(x).squeeze(-1)

    def batches(self, sampler: TripleSampler, epoch: int):
        """A discriminator epoch over the seeded triples, then a generator epoch over the positives' items."""
        s = self.settings
        for triples in sampler.epoch(s.seed, epoch, s.batch_size):
            yield "discriminator", TripleBatch.from_triples(triples, len(sampler))
        order = np.random.default_rng([s.seed, epoch, 1]).permutation(len(sampler))
        items = torch.from_numpy(sampler.items[order])
        for lo in range(0, len(items), s.batch_size):
            yield "generator", items[lo : lo + s.batch_size]

    def loss(self, batch) -> torch.Tensor:
        phase, data = batch
        if phase == "generator":
            fake = self.judge(data, self.generate(data), frozen=True)
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        items = data.items
        real = self.judge(items, self.profiles[data.pos_users])
        fake = self.judge(items, self.generate(items).detach())
        neg = self.judge(items, self.profiles[data.neg_users])
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
                + self.neg_weight * F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.profiles[users] @ self.generate(items).T


MODEL = LARA
# The reference's hyperparameters: lr 1e-4 for both nets, hidden width 100, no weight decay (alpha = 0); LARA has
# no embedding width of its own (users and items are attribute-level vectors), so d is not one of its settings.
DEFAULTS = dict(lr=1e-4, hidden=100, neg_weight=1.0)
# the reference's lr and 10× (its 200–300 epochs do not fit our 40), its width and 2×, the negative term ×1 or ×0.5
GRID = {"lr": [1e-4, 1e-3], "hidden": [100, 200], "neg_weight": [1.0, 0.5]}
# `m2vae tune ml-100k --model lara --seeds 2 --epochs 40 --set patience=15` (benchmarks/RESULTS.md, issue 20):
# the published point is the best of the eight (validation HR@5 0.2000; the others 0.1917–0.1993)
TUNED = {"movielens": dict(lr=1e-4, hidden=100, neg_weight=1.0)}
