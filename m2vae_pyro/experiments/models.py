"""Model names of an experiment → fitted :class:`Recommender`s on one dataset, split and seed.

``m2vae`` is the full model; a Table-4 variant name (``w/o-dcl`` …) or ``full`` is M²VAE in that configuration;
``prior:NAME`` is the full model with another prior over ``z``; ``paper-literal`` is M²VAE at that preset
(version 1); every name of ``BASELINES`` is that baseline.
All of them get the same split and the same seeded triples (hence the same negative users) for one seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..baselines import BASELINES, Recommender, Settings, build_baseline
from ..config import VARIANTS, load_config, with_variant
from ..data.dataset import Dataset
from ..data.errors import DataError
from ..data.split import ColdStartSplit
from ..m2vae import M2VAE


@dataclass
class Spec:
    """What an experiment applies to every cell: epochs, and config overrides for the M²VAE cells."""

    dataset: str
    epochs: int | None = None
    overrides: dict[str, Any] | None = None


# M²VAE at another formulation preset, as a row of its own (its name is the preset's)
PRESET_MODELS = ("v2", "paper-literal")


def check_model_name(name: str) -> None:
    if name == "m2vae" or name in VARIANTS or name in BASELINES or name in PRESET_MODELS:
        return
    if name.startswith("prior:"):
        from ..module.priors import PRIORS

        if name.split(":", 1)[1] in PRIORS:
            return
    raise DataError(None, f"unknown model {name!r}; choose m2vae, v2, paper-literal, a variant "
                          f"({', '.join(VARIANTS)}), prior:NAME or a baseline ({', '.join(BASELINES)})")


def m2vae_config(name: str, spec: Spec, seed: int):
    """The config of an M²VAE cell: preset ← the experiment's overrides ← the variant or prior its name asks for.

    The name wins over the overrides: under ``--set alpha_dcl=1`` the ``w/o-dcl`` cell still has α = 0.
    """
    overrides = dict(spec.overrides or {})
    if name.startswith("prior:"):
        overrides["prior"] = name.split(":", 1)[1]
    if name in PRESET_MODELS:
        overrides["preset"] = name
    cfg = load_config(spec.dataset, None, "full", seed=seed, epochs=spec.epochs, **overrides)
    if name in VARIANTS:
        cfg = with_variant(cfg, name)
    return cfg


def baseline_settings(spec: Spec, seed: int) -> Settings:
    """The budget a baseline cell shares with the M²VAE cells: seed, triples (c_p, c_n, batch), epoch cap, patience
    and validation interval come from the experiment's M²VAE config; the model's own hyperparameters (its lr and
    weight decay among them) are its own."""
    cfg = m2vae_config("m2vae", spec, seed)
    return Settings(seed=seed, c_p=cfg.c_p, c_n=cfg.c_n, batch_size=cfg.batch_size, patience=cfg.patience,
                    epochs=cfg.epochs, eval_every=cfg.eval_every)


def build_model(name: str, ds: Dataset, split: ColdStartSplit, seed: int, spec: Spec,
                device: str | None = None, hyper: dict[str, Any] | None = None) -> Recommender:
    """The fitted-to-be model of one cell; ``device`` applies to the M²VAE cells (default: their config's; the
    baselines run on the CPU);
    ``hyper`` overrides a baseline's own hyperparameters (a point of its grid)."""
    check_model_name(name)
    if name in BASELINES:
        return build_baseline(name, ds, split, baseline_settings(spec, seed), hyper)
    return M2VAE(ds, m2vae_config(name, spec, seed), split, device=device)
