"""What a training run may spend and how it stops: the one dataclass the training loop reads (``train/trainer.py``).

M²VAE's :class:`~m2vae_pyro.config.Config` and the baselines' :class:`~m2vae_pyro.baselines.base.Settings` both
extend it, so an experiment hands every model the same budget by the same field names, and the loop that trains
them reads nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .data.errors import DataError

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


@dataclass
class Budget:
    # at most this many epochs; stop after `patience` validations without a better validation HR@5
    epochs: int = 40
    patience: int = 15
    eval_every: int = 1  # validate every this many epochs
    # Adam (fused) on every trainable parameter
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    # validate and keep an exponential moving average of the weights (decay per step, bias-corrected; 0: off): the
    # validation curve moves ±0.01 from epoch to epoch, so the best raw epoch is partly noise that test items miss
    weight_ema: float = 0.0
    seed: int = 0
    # where the networks and batches live: cpu | cuda | cuda:N (the baselines train on the CPU only)
    device: str = "cpu"

    def check_budget(self) -> None:
        """The range checks of the budget's fields (the owner checks the types, and its own fields)."""
        for name in ("epochs", "patience", "eval_every", "batch_size"):
            if getattr(self, name) < 1:
                raise DataError(None, f"config field {name} must be ≥ 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise DataError(None, f"config field lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "seed"):
            if not getattr(self, name) >= 0:
                raise DataError(None, f"config field {name} must be ≥ 0, got {getattr(self, name)}")
        if not 0.0 <= self.weight_ema < 1.0:
            raise DataError(None, f"config field weight_ema must lie in [0, 1), got {self.weight_ema}")
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise DataError(None, f"config field device = {self.device!r}: choose cpu, cuda or cuda:N")
