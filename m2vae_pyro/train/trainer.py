"""SVI in Pyro's local-parameter mode: ``TraceMeanField_ELBO()(model, guide)`` and a plain Adam loop.

The loop is a :class:`Trainer` whose whole state (weights, optimiser, counters, history, RNG states) is one
``state_dict``: a run interrupted between two steps resumes exactly where it stopped. Batches come from
``TripleSampler.epoch(seed, epoch, start=batch)``, a stream derived from the seed and the epoch only.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyro
import torch

from ..config import Config
from ..data.batch import TripleBatch
from ..data.sampling import TripleSampler
from ..programs import M2VAEGuide, M2VAEModel, elbo_loss
from .errors import Interrupted, TrainingError


@dataclass
class History:
    rows: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    best_state: dict | None = None


def _check_finite(terms: dict[str, float], step: int) -> None:
    for name, value in terms.items():
        if not math.isfinite(value):
            raise TrainingError(f"loss term '{name}' is {value} at step {step}; training stopped "
                                "(the best checkpoint so far is kept)")


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)`` of the ``torch.distributed`` job, ``(0, 1)`` outside one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# a resume point is written at least this often within a long epoch (besides every epoch's end)
CHECKPOINT_SECONDS = 600.0


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains ``model``/``guide`` for ``cfg.epochs``, early-stopping on ``validate()`` (higher is better).

    ``run()`` returns the history and leaves the networks at the best validation state. ``should_stop`` is polled
    after every step; when it answers true the loop raises :class:`Interrupted` with a consistent state.
    """

    def __init__(self, model: M2VAEModel, guide: M2VAEGuide, sampler: TripleSampler, cfg: Config,
                 validate: Callable[[], float] | None = None, on_improve: Callable[[History], None] | None = None,
                 progress: bool = True):
        self.model, self.guide, self.sampler, self.cfg = model, guide, sampler, cfg
        self.validate, self.on_improve, self.progress = validate, on_improve, progress
        self.elbo = elbo_loss(model, guide)
        self.rank, self.world = rank_and_world()
        self.loss_fn = self.elbo
        if self.world > 1:
            # DDP broadcasts rank 0's weights now and averages gradients in backward(): each rank's loss is an
            # unbiased estimate (plate scale N / local batch), so their mean is too. Some parameters are unused
            # by a given variant (e.g. the weighted-PoE weights under the MoE fusion).
            self.loss_fn = torch.nn.parallel.DistributedDataParallel(self.elbo, find_unused_parameters=True)
            pyro.set_rng_seed(cfg.seed + self.rank)  # different guide noise per rank
        # fused: one kernel over all parameters instead of ~10 passes each over the dense embedding tables
        self.optim = torch.optim.Adam(self.elbo.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.history = History()
        # the moving average of the weights (Config.weight_ema), zero-initialised and bias-corrected
        self.ema = ({k: torch.zeros_like(p) for k, p in self.model.named_parameters()} if cfg.weight_ema else None)
        self.epoch = self.batch = self.step = self.stale = 0
        self._sums: dict[str, float] = {}
        self._epoch_seconds = 0.0

    # -- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"weights": self.model.state_dict(), "optim": self.optim.state_dict(),
                "counters": {"epoch": self.epoch, "batch": self.batch, "step": self.step, "stale": self.stale},
                "sums": dict(self._sums), "epoch_seconds": self._epoch_seconds,
                "history": copy.deepcopy(self.history.__dict__), "rng": rng_state(),
                "ema": None if self.ema is None else {k: v.clone() for k, v in self.ema.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.optim.load_state_dict(state["optim"])
        for k, v in state["counters"].items():
            setattr(self, k, v)
        self._sums, self._epoch_seconds = dict(state["sums"]), state["epoch_seconds"]
        self.history = History(**state["history"])
        if self.ema is not None:
            self.ema = {k: v.clone() for k, v in state["ema"].items()}
        set_rng_state(state["rng"])

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] = lambda: False,
            checkpoint: Callable[[], None] | None = None) -> History:
        """``checkpoint`` is called with a consistent state at the end of every epoch that does not stop the run, and
        between two steps when ``CHECKPOINT_SECONDS`` have passed since the last call (long epochs)."""
        from tqdm.auto import tqdm

        cfg, nets, n = self.cfg, self.model.nets, len(self.sampler)
        global_batch = cfg.batch_size * self.world  # batch_size is per rank
        n_batches = self.sampler.n_batches(global_batch, self.world)
        last_saved = time.perf_counter()
        with pyro.validation_enabled(False):  # shape checks cost ~10% per step; the tests run with them on
            while self.epoch < cfg.epochs:
                nets.train()
                t0 = time.perf_counter()
                batches = self.sampler.epoch(cfg.seed, self.epoch, global_batch, start=self.batch,
                                             shard=(self.rank, self.world))
                bar = tqdm(batches, total=n_batches, initial=self.batch, disable=not self.progress or self.rank > 0,
                           leave=False,
                           desc=f"epoch {self.epoch + 1}/{cfg.epochs}")
                device = self.model.nets.item_emb.weight.device
                for triples in bar:
                    terms = self._step(TripleBatch.from_triples(triples, n, device))
                    self.batch += 1
                    bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items() if k != "loss"})
                    if should_stop():
                        self._epoch_seconds += time.perf_counter() - t0
                        bar.close()
                        raise Interrupted(f"interrupted at epoch {self.epoch + 1}, step {self.step}")
                    if checkpoint is not None and time.perf_counter() - last_saved > CHECKPOINT_SECONDS:
                        now = time.perf_counter()
                        self._epoch_seconds += now - t0  # the state's clock is consistent at every save
                        t0 = last_saved = now
                        checkpoint()
                self._epoch_seconds += time.perf_counter() - t0
                if self._end_epoch(n_batches):
                    break
                if checkpoint is not None:
                    checkpoint()
                    last_saved = time.perf_counter()
        if self.history.best_state is not None:
            self.model.load_state_dict(self.history.best_state)
        nets.eval()
        return self.history

    def _step(self, batch: TripleBatch) -> dict[str, float]:
        cfg, model = self.cfg, self.model
        warmup = min(1.0, (self.step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
        views = model.nets.views(batch.items)  # the encoder pass, shared by guide and model as an argument
        with warnings.catch_warnings():
            # Pyro's generic NaN warning; _check_finite below names the term and the step instead.
            warnings.filterwarnings("ignore", message="Encountered NaN")
            loss = self.loss_fn(batch, views, cfg.kl_weight * warmup)
        total = float(loss.detach())
        terms = {k: float(v) for k, v in model.last_terms.items()}
        weighted = float(model.last_factor_total)  # Σ weight · mean of every factor, as the model added them
        terms = {"loss": total / batch.size, "elbo": total / batch.size - weighted, **terms}
        _check_finite(terms, self.step)
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if self.world > 1:
            self._check_in_sync()
        self.step += 1
        if self.ema is not None:
            with torch.no_grad():
                decay = self.cfg.weight_ema
                for k, p in self.model.named_parameters():
                    self.ema[k].mul_(decay).add_(p.detach(), alpha=1.0 - decay)
        for k, v in terms.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        return terms

    def averaged(self) -> dict[str, torch.Tensor] | None:
        """The bias-corrected moving average of every parameter (``None`` without ``weight_ema``)."""
        if self.ema is None or not self.step:
            return None
        correction = 1.0 - self.cfg.weight_ema ** self.step
        return {k: v / correction for k, v in self.ema.items()}

    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside: the parameters hold their moving average (validation, the kept state); after: the raw ones."""
        averaged = self.averaged()
        if averaged is None:
            yield
            return
        params = dict(self.model.named_parameters())
        raw = {k: p.detach().clone() for k, p in params.items()}
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(averaged[k])
        try:
            yield
        finally:
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(raw[k])

    def _check_in_sync(self) -> None:
        """Every rank must hold the same weights after every step (a cheap fingerprint, all-gathered)."""
        with torch.no_grad():
            mine = torch.stack([p.detach().double().sum() for p in self.elbo.parameters()])
        everyone = [torch.empty_like(mine) for _ in range(self.world)]
        torch.distributed.all_gather(everyone, mine)
        if any(not torch.equal(everyone[0], other) for other in everyone[1:]):
            raise TrainingError(f"ranks hold different weights after step {self.step}")

    def _end_epoch(self, n_batches: int) -> bool:
        """Validation, history row, early stopping; returns whether to stop."""
        cfg, nets, history = self.cfg, self.model.nets, self.history
        row = {"epoch": self.epoch + 1, "step": self.step, "seconds": self._epoch_seconds}
        row |= {k: v / n_batches for k, v in self._sums.items()}
        stop = False
        if self.validate is not None and (self.epoch + 1) % cfg.eval_every == 0:
            nets.eval()
            with self.averaged_weights():
                row["val_hr@5"] = score = self.validate()
                if score > history.best_score:
                    history.best_score, history.best_epoch, self.stale = score, self.epoch + 1, 0
                    history.best_state = copy.deepcopy(self.model.state_dict())  # networks and prior
                    if self.on_improve is not None:
                        self.on_improve(history)
                else:
                    self.stale += 1
            stop = self.stale >= cfg.patience
        history.rows.append(row)
        if self.progress and self.rank == 0:
            from tqdm.auto import tqdm

            tqdm.write(f"epoch {self.epoch + 1}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "step")))
        self.epoch, self.batch, self._sums, self._epoch_seconds = self.epoch + 1, 0, {}, 0.0
        return stop


def fit(model: M2VAEModel, guide: M2VAEGuide, sampler: TripleSampler, cfg: Config,
        validate: Callable[[], float] | None = None, on_improve: Callable[[History], None] | None = None,
        progress: bool = True) -> History:
    """Train from scratch (see :class:`Trainer`)."""
    return Trainer(model, guide, sampler, cfg, validate, on_improve, progress).run()


def seed_everything(seed: int) -> None:
    """torch, numpy's legacy global state, Python and Pyro (samplers take their own seeded generators)."""
    random.seed(seed)
    pyro.set_rng_seed(seed)
    np.random.seed(seed % 2**32)
