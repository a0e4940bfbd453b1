"""SVI in Pyro's local-parameter mode: ``TraceMeanField_ELBO()(model, guide)`` and a plain Adam loop."""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyro
import torch

from ..config import Config
from ..data.sampling import TripleSampler
from ..guides.guide import M2VAEGuide
from ..models.model import M2VAEModel, TripleBatch
from .errors import TrainingError


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


def fit(model: M2VAEModel, guide: M2VAEGuide, sampler: TripleSampler, cfg: Config,
        validate: Callable[[], float] | None = None, on_improve: Callable[[History], None] | None = None,
        progress: bool = True) -> History:
    """Train ``model``/``guide`` for ``cfg.epochs``, early-stopping on ``validate()`` (higher is better).

    Returns the history; the networks are left at the best validation state.
    """
    from tqdm.auto import tqdm

    pyro.settings.set(module_local_params=True)
    was_validating = pyro.poutine.util.is_validation_enabled()
    pyro.enable_validation(False)  # shape checks cost ~10% per step; the tests run with them on
    elbo = pyro.infer.TraceMeanField_ELBO()(model, guide)
    optim = torch.optim.Adam(elbo.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    nets = model.nets
    history = History()
    n = len(sampler)
    step, stale = 0, 0
    try:
        for epoch in range(cfg.epochs):
            nets.train()
            sums: dict[str, float] = {}
            n_batches = sampler.n_batches(cfg.batch_size)
            t0 = time.perf_counter()
            bar = tqdm(sampler.epoch(cfg.seed, epoch, cfg.batch_size), total=n_batches, disable=not progress,
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
            for triples in bar:
                scale = min(1.0, (step + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
                model.kl_scale = guide.kl_scale = scale
                with warnings.catch_warnings():
                    # Pyro's generic NaN warning; _check_finite below names the term and the step instead.
                    warnings.filterwarnings("ignore", message="Encountered NaN")
                    loss = elbo(TripleBatch.from_triples(triples, n))
                terms = {k: float(v) for k, v in model.last_terms.items()}
                total = float(loss.detach())
                weighted = terms.get("bpr", 0.0) + cfg.alpha_dcl * terms.get("dcl", 0.0) \
                    + cfg.beta_co * terms.get("co", 0.0)
                terms = {"loss": total / n, "elbo": total / n - weighted, **terms}
                _check_finite(terms, step)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                step += 1
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items() if k != "loss"})
            row = {"epoch": epoch + 1, "step": step, "seconds": time.perf_counter() - t0}
            row |= {k: v / n_batches for k, v in sums.items()}
            if validate is not None and (epoch + 1) % cfg.eval_every == 0:
                nets.eval()
                row["val_hr@5"] = score = validate()
                if score > history.best_score:
                    history.best_score, history.best_epoch, stale = score, epoch + 1, 0
                    history.best_state = copy.deepcopy(nets.state_dict())
                    if on_improve is not None:
                        on_improve(history)
                else:
                    stale += 1
            history.rows.append(row)
            if progress:
                shown = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "step"))
                tqdm.write(f"epoch {epoch + 1}: {shown}")
            if validate is not None and stale >= cfg.patience:
                break
    finally:
        pyro.enable_validation(was_validating)
    if history.best_state is not None:
        nets.load_state_dict(history.best_state)
    nets.eval()
    return history


def seed_everything(seed: int) -> None:
    """torch, numpy's legacy global state, Python and Pyro (samplers take their own seeded generators)."""
    pyro.set_rng_seed(seed)
    np.random.seed(seed % 2**32)
