"""What the one training loop (:class:`~m2vae_pyro.train.trainer.Trainer`) needs of a model: a training plan.

The shape of scvi-tools' ``TrainingPlan`` without Lightning: the plan owns the model's parameters, its loss on a
batch, its batches for an epoch and its validation score; the trainer owns everything else — the optimiser,
the epochs, early stopping, the kept best state, checkpoints and resume, NaN checks, signals, the progress bar.
M²VAE (``train/svi.py``) and every learned baseline (``baselines/base.py::TrainedBaseline``) are plans.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import torch
from torch import nn


class TrainingPlan(Protocol):
    #: the networks whose ``state_dict`` is checkpointed and kept at the best validation epoch; ``train()`` /
    #: ``eval()`` switch its mode around each epoch's validation
    module: nn.Module

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        """What the optimiser updates (in a fixed order: a resumed optimiser state is matched by position)."""

    # optional: ``lazy_parameters()``, the trainable tables whose gradients are row-sparse (updated by SparseAdam,
    # the rest by Adam; M²VAE's user_updates = lazy)

    def n_batches(self) -> int | None:
        """Batches in an epoch, for the progress bar (``None``: not known in advance)."""

    def epoch_batches(self, epoch: int, start: int) -> Iterable[Any]:
        """Epoch ``epoch``'s batches from the ``start``-th on: a stream that depends on the seed and the epoch only
        (never on the global random state), so that a run resumed mid-epoch sees the batches it would have."""

    def training_step(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to minimise on ``batch`` (at global step ``step``) and the terms to log; the term ``loss`` is
        the loss per example."""

    def validate(self) -> float:
        """The validation score the best epoch is chosen by (higher is better; the module is in eval mode)."""
