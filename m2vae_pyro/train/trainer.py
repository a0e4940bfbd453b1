"""The one training loop of every model: a :class:`Trainer` runs a training plan (``train/plan.py``) — M²VAE's SVI
(``train/svi.py``) or a learned baseline (``baselines/base.py``) — under a :class:`~m2vae_pyro.budget.Budget`.

The trainer's whole state (weights, optimiser, counters, history, RNG states) is one ``state_dict``: a run
interrupted between two steps resumes exactly where it stopped, because a plan's batches depend on the seed and the
epoch only (``TripleSampler.epoch(seed, epoch, start=batch)``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyro
import torch

from ..budget import Budget
from .errors import Interrupted, TrainingError
from .plan import TrainingPlan


@dataclass
class History:
    """What a training run leaves, whatever the model: a row per epoch (mean of each logged term over the epoch's
    batches, its seconds, the validation score), the best epoch, its score and its state."""

    rows: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -math.inf
    best_state: dict | None = None

    def summary(self) -> dict[str, Any]:
        """The best epoch (0 for an untrained model) and its validation HR@5 when there was one, as an experiment
        cell records them."""
        out: dict[str, Any] = {"best_epoch": self.best_epoch}
        if math.isfinite(self.best_score):
            out["best_val_hr@5"] = self.best_score
        return out


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


def optimisers(params: list[torch.Tensor], lazy: list[torch.Tensor], budget: Budget) -> list[torch.optim.Optimizer]:
    """Fused Adam over ``params`` but the row-sparse tables ``lazy``, SparseAdam over those
    (``TrainingPlan.lazy_parameters``: only the rows a batch touches are updated)."""
    dense = [p for p in params if all(p is not q for q in lazy)]
    # fused: one kernel over all parameters instead of ~10 passes each over the dense embedding tables
    out = [torch.optim.Adam(dense, lr=budget.lr, weight_decay=budget.weight_decay, fused=True)]
    return out + ([torch.optim.SparseAdam(lazy, lr=budget.lr)] if lazy else [])


class Trainer:
    """Trains ``plan`` for ``budget.epochs``, early-stopping on ``plan.validate()`` (higher is better).

    ``run()`` returns the history and leaves the plan's module at its best validation state, in eval mode.
    ``should_stop`` is polled after every step; when it answers true the loop raises :class:`Interrupted` with a
    consistent state.
    """

    def __init__(self, plan: TrainingPlan, budget: Budget, on_improve: Callable[[History], None] | None = None,
                 progress: bool = True):
        self.plan, self.budget, self.module = plan, budget, plan.module
        self.on_improve, self.progress = on_improve, progress
        self.rank, self.world = rank_and_world()
        self.params = list(plan.trainable_parameters())
        lazy = list(plan.lazy_parameters()) if hasattr(plan, "lazy_parameters") else []
        self.optims = optimisers(self.params, lazy, budget)
        self.history = History()
        # the moving average of the weights (Budget.weight_ema), zero-initialised and bias-corrected
        self.ema = ({k: torch.zeros_like(p) for k, p in self.module.named_parameters()} if budget.weight_ema
                    else None)
        self.epoch = self.batch = self.step = self.stale = 0
        self._sums: dict[str, float] = {}
        self._epoch_seconds = 0.0

    # -- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"weights": self.module.state_dict(), "optim": [o.state_dict() for o in self.optims],
                "counters": {"epoch": self.epoch, "batch": self.batch, "step": self.step, "stale": self.stale},
                "sums": dict(self._sums), "epoch_seconds": self._epoch_seconds,
                "history": copy.deepcopy(self.history.__dict__), "rng": rng_state(),
                "ema": None if self.ema is None else {k: v.clone() for k, v in self.ema.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["weights"])
        optims = state["optim"] if isinstance(state["optim"], list) else [state["optim"]]  # one optimiser before
        if len(optims) != len(self.optims):
            raise TrainingError(f"the saved state has {len(optims)} optimiser(s), this run {len(self.optims)}: it was "
                                "saved with other settings (user_updates)")
        for optim, saved in zip(self.optims, optims, strict=True):
            optim.load_state_dict(saved)
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

        plan, module, epochs = self.plan, self.module, self.budget.epochs
        n_batches = plan.n_batches()
        last_saved = time.perf_counter()
        with pyro.validation_enabled(False):  # shape checks cost ~10% per step; the tests run with them on
            while self.epoch < epochs:
                module.train()
                t0 = time.perf_counter()
                bar = tqdm(plan.epoch_batches(self.epoch, self.batch), total=n_batches, initial=self.batch,
                           disable=not self.progress or self.rank > 0, leave=False,
                           desc=f"epoch {self.epoch + 1}/{epochs}")
                for batch in bar:
                    terms = self._step(batch)
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
                if self._end_epoch():
                    break
                if checkpoint is not None:
                    checkpoint()
                    last_saved = time.perf_counter()
        if self.history.best_state is not None:
            module.load_state_dict(self.history.best_state)
        module.eval()
        return self.history

    def _step(self, batch: Any) -> dict[str, float]:
        loss, terms = self.plan.training_step(batch, self.step)
        _check_finite(terms, self.step)
        for optim in self.optims:
            optim.zero_grad(set_to_none=True)
        loss.backward()
        for optim in self.optims:
            optim.step()
        if self.world > 1:
            self._check_in_sync()
        self.step += 1
        if self.ema is not None:
            with torch.no_grad():
                decay = self.budget.weight_ema
                for k, p in self.module.named_parameters():
                    self.ema[k].mul_(decay).add_(p.detach(), alpha=1.0 - decay)
        for k, v in terms.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        return terms

    def averaged(self) -> dict[str, torch.Tensor] | None:
        """The bias-corrected moving average of every parameter (``None`` without ``weight_ema``)."""
        if self.ema is None or not self.step:
            return None
        correction = 1.0 - self.budget.weight_ema ** self.step
        return {k: v / correction for k, v in self.ema.items()}

    @contextlib.contextmanager
    def averaged_weights(self):
        """Inside: the parameters hold their moving average (validation, the kept state); after: the raw ones."""
        averaged = self.averaged()
        if averaged is None:
            yield
            return
        params = dict(self.module.named_parameters())
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
            mine = torch.stack([p.detach().double().sum() for p in self.params])
        everyone = [torch.empty_like(mine) for _ in range(self.world)]
        torch.distributed.all_gather(everyone, mine)
        if any(not torch.equal(everyone[0], other) for other in everyone[1:]):
            raise TrainingError(f"ranks hold different weights after step {self.step}")

    def _end_epoch(self) -> bool:
        """Validation, history row, early stopping; returns whether to stop."""
        budget, history = self.budget, self.history
        row = {"epoch": self.epoch + 1, "step": self.step, "seconds": self._epoch_seconds}
        row |= {k: v / max(self.batch, 1) for k, v in self._sums.items()}  # means over the epoch's batches
        stop = False
        if (self.epoch + 1) % budget.eval_every == 0:
            self.module.eval()
            with self.averaged_weights():
                row["val_hr@5"] = score = self.plan.validate()
                if score > history.best_score:
                    history.best_score, history.best_epoch, self.stale = score, self.epoch + 1, 0
                    history.best_state = copy.deepcopy(self.module.state_dict())
                    if self.on_improve is not None:
                        self.on_improve(history)
                else:
                    self.stale += 1
            stop = self.stale >= budget.patience
        history.rows.append(row)
        if self.progress and self.rank == 0:
            from tqdm.auto import tqdm

            tqdm.write(f"epoch {self.epoch + 1}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "step")))
        self.epoch, self.batch, self._sums, self._epoch_seconds = self.epoch + 1, 0, {}, 0.0
        return stop


def fit(plan: TrainingPlan, budget: Budget, on_improve: Callable[[History], None] | None = None,
        progress: bool = True) -> History:
    """Train from scratch (see :class:`Trainer`)."""
    return Trainer(plan, budget, on_improve, progress).run()


def seed_everything(seed: int) -> None:
    """torch, numpy's legacy global state, Python and Pyro (samplers take their own seeded generators)."""
    random.seed(seed)
    pyro.set_rng_seed(seed)
    np.random.seed(seed % 2**32)
