"""Content-conditional VAEs over item preference embeddings: the paper's ``CVAE`` row and GoRec.

One Pyro model, two configurations:

- ``cvae`` (a plain conditional VAE, after Li & She, "Collaborative Variational Autoencoder for Recommender
  Systems", KDD 2017): item embeddings and user embeddings are learned jointly with the generator, which is
  trained by BPR (as M²VAE's Eq. 25) on the generated embedding — M²VAE without views, experts or contrastive terms.
- ``gorec`` (Bai et al., "GoRec: A Generative Cold-start Recommendation Framework", ACM MM 2023): a CVAE that
  reconstructs *pre-trained* preference embeddings (BPR-MF on the warm split, 64-d as in the paper) from
  content; cold items are generated at the prior mean and scored against the frozen pre-trained users.

Model: ``z ~ N(0, I)``, ``e_i ~ N(F([z; content_i]), σ)``; guide ``q(z | e_i, content_i)``. Cold items: ``z = 0``.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from ..data.batch import TripleBatch
from ..data.dataset import Dataset
from ..data.sampling import TripleSampler
from ..data.split import ColdStartSplit
from ..nn.content import ContentEncoder
from ..nn.decoder import Decoder
from ..nn.encoders import GaussianHead
from ..nn.losses import bpr
from .base import Settings, TrainedBaseline, pretrain_mf


class _Model(PyroModule):
    def __init__(self, nets: _Nets):
        super().__init__()
        self.nets = nets

    def forward(self, batch: TripleBatch, content: torch.Tensor) -> None:
        o = self.nets
        target = o.items(batch.items)
        with pyro.plate("triples", batch.size, subsample=batch.index):
            loc = target.new_zeros(len(batch.items), o.settings.d)
            z = pyro.sample("z", dist.Normal(loc, torch.ones_like(loc)).to_event(1))
            e_new = o.decoder(z, [content])
            pyro.sample("e", dist.Normal(e_new, o.obs_scale).to_event(1), obs=target)
            if o.joint:
                pyro.factor("bpr", -bpr(e_new, o.users(batch.pos_users),
                                        o.users(batch.neg_users)))


class _Guide(PyroModule):
    def __init__(self, nets: _Nets):
        super().__init__()
        self.nets = nets

    def forward(self, batch: TripleBatch, content: torch.Tensor) -> None:
        o = self.nets
        x = torch.cat([o.items(batch.items), content], dim=-1)
        with pyro.plate("triples", batch.size, subsample=batch.index):
            mu, logvar = o.encoder(x)
            pyro.sample("z", dist.Normal(mu, (0.5 * logvar).exp()).to_event(1))


class _Nets(nn.Module):
    """Networks shared by the model and the guide (same module names on both sides)."""

    def __init__(self, ds: Dataset, settings: Settings, joint: bool):
        super().__init__()
        d, h = settings.d, settings.hidden
        self.settings, self.joint = settings, joint
        self.obs_scale = (d / 2) ** 0.5 if joint else 1.0  # joint: as M²VAE's Eq. 24; GoRec: plain MSE scale
        self.content = ContentEncoder(ds, h, h)
        self.encoder = GaussianHead(d + h, d)
        self.decoder = Decoder(d, [h], d, h)
        self.items = nn.Embedding(ds.n_items, d)
        self.users = nn.Embedding(ds.n_users, d)
        nn.init.normal_(self.items.weight, std=0.1), nn.init.normal_(self.users.weight, std=0.1)
        self.items.weight.requires_grad_(joint)
        self.users.weight.requires_grad_(joint)


class ContentCVAE(TrainedBaseline):
    """``joint=True``: the ``cvae`` row; ``joint=False``: GoRec over frozen BPR-MF embeddings."""

    def __init__(self, ds: Dataset, split: ColdStartSplit, settings: Settings, joint: bool):
        super().__init__(ds, split, settings)
        pyro.settings.set(module_local_params=True)
        self.nets = _Nets(ds, settings, joint)
        self._pair = (_Model(self.nets), _Guide(self.nets))  # a tuple: not registered twice as submodules
        self._elbo = pyro.infer.TraceMeanField_ELBO()

    def prepare(self, sampler: TripleSampler, progress: bool) -> None:
        if not self.nets.joint:
            users, items = pretrain_mf(self.ds, sampler, self.settings, progress=progress)
            self.nets.users.weight.data.copy_(users)
            self.nets.items.weight.data.copy_(items)

    def loss(self, batch: TripleBatch) -> torch.Tensor:
        content = self.nets.content(batch.items)  # one encoder pass, handed to both programs
        return self._elbo.differentiable_loss(*self._pair, batch, content) / batch.size

    def score_indices(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        nets = self.nets
        content = nets.content(items)
        e_new = nets.decoder(content.new_zeros(len(items), self.settings.d), [content])  # prior mean z = 0
        return nets.users(users) @ e_new.T
