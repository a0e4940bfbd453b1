"""M²VAE as a training plan: SVI in Pyro's local-parameter mode, ``TraceMeanField_ELBO()(model, guide)`` on the
seeded triples ``TripleSampler.epoch(seed, epoch, start=batch)``, validated by HR@5 on the validation cold items."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import pyro
import torch

from ..config import Config
from ..data.batch import TripleBatch
from ..data.errors import DataError
from ..data.sampling import TripleSampler
from ..programs import M2VAEGuide, M2VAEModel, elbo_loss
from .trainer import rank_and_world


class SVIPlan:
    """The ELBO of ``model``/``guide`` (Eq. 26: every factor the model adds), one loss per batch of triples.

    Under ``torch.distributed`` each rank trains on its shard of every global batch (``cfg.batch_size`` per rank)
    and the loss is wrapped in ``DistributedDataParallel``.
    """

    def __init__(self, model: M2VAEModel, guide: M2VAEGuide, sampler: TripleSampler, cfg: Config,
                 validate: Callable[[], float]):
        self.model, self.guide, self.sampler, self.cfg = model, guide, sampler, cfg
        self.module = model  # the networks (the prior among them): what is checkpointed and kept
        self.validate = validate
        self.elbo = elbo_loss(model, guide)
        self.rank, self.world = rank_and_world()
        self.loss_fn = self.elbo
        if self.world > 1 and cfg.user_updates != "dense":
            raise DataError(None, f"user_updates = {cfg.user_updates} is not supported with --distributed "
                                "(row-sparse gradients are not averaged across ranks here); use dense")
        if self.world > 1:
            # DDP broadcasts rank 0's weights now and averages gradients in backward(): each rank's loss is an
            # unbiased estimate (plate scale N / local batch), so their mean is too. Some parameters are unused
            # by a given variant (e.g. the weighted-PoE weights under the MoE fusion).
            self.loss_fn = torch.nn.parallel.DistributedDataParallel(self.elbo, find_unused_parameters=True)
            pyro.set_rng_seed(cfg.seed + self.rank)  # different guide noise per rank

    def trainable_parameters(self):
        return self.elbo.parameters()

    def lazy_parameters(self):
        return self.model.nets.lazy_parameters()

    def n_batches(self) -> int:
        return self.sampler.n_batches(self.cfg.batch_size * self.world, self.world)

    def epoch_batches(self, epoch: int, start: int) -> Iterator[TripleBatch]:
        global_batch = self.cfg.batch_size * self.world  # batch_size is per rank
        device = self.model.nets.item_emb.weight.device
        n = len(self.sampler)
        for triples in self.sampler.epoch(self.cfg.seed, epoch, global_batch, start=start,
                                          shard=(self.rank, self.world)):
            yield TripleBatch.from_triples(triples, n, device)

    def training_step(self, batch: TripleBatch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, model = self.cfg, self.model
        warmup = min(1.0, (step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
        views = model.nets.views(batch.items)  # the encoder pass, shared by guide and model as an argument
        with warnings.catch_warnings():
            # Pyro's generic NaN warning; the trainer's finite check names the term and the step instead.
            warnings.filterwarnings("ignore", message="Encountered NaN")
            loss = self.loss_fn(batch, views, cfg.kl_weight * warmup)
        total = float(loss.detach())
        terms = {k: float(v) for k, v in model.last_terms.items()}
        weighted = float(model.last_factor_total)  # Σ weight · mean of every factor, as the model added them
        return loss, {"loss": total / batch.size, "elbo": total / batch.size - weighted, **terms}
