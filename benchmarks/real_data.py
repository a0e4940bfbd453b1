"""Where the benchmarks on real data find it, and how they report that they cannot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from m2vae_pyro.data.errors import DataError
from m2vae_pyro.data.loaders import load_dataset

# The checkout sits beside shared/ (README, tests); $M2VAE_DATA or --data-dir point elsewhere.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def default_data_dir() -> Path:
    return Path(os.environ["M2VAE_DATA"]) if "M2VAE_DATA" in os.environ else SHARED_DATA


def load_or_exit(name: str, data_dir: str | Path | None, **kwargs):
    """``load_dataset``, or one line naming the missing file and exit code 2 (no traceback)."""
    try:
        return load_dataset(name, Path(data_dir) if data_dir else default_data_dir(), **kwargs)
    except DataError as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {exc}")


def table3_cells(datasets: str, models: str, data_dir: str | Path | None, overrides: dict | None = None):
    """``(dataset, model, dataset object, split, model or None)`` for each comma-separated dataset and model, each
    model built as its seed-0 experiment cell is (``experiments/models.py::build_model``, a one-epoch budget,
    ``overrides`` on the M²VAE config); a method that is not available prints its row here and yields ``None``."""
    from m2vae_pyro.data.split import cold_start_split
    from m2vae_pyro.experiments.harness import unavailable
    from m2vae_pyro.experiments.models import Spec, build_model, m2vae_config

    for name in datasets.split(","):
        ds = load_or_exit(name, data_dir, images=True, progress=False)
        spec = Spec(name, epochs=1, overrides=overrides)
        cfg = m2vae_config("m2vae", spec, 0)
        split = cold_start_split(ds, 0, cfg.cold_fraction, cfg.threshold)
        for model in models.split(","):
            if why := unavailable(model):
                print(f"| {name} | {model} | not available: {why} | | |")
                yield name, model, ds, split, None
            else:
                yield name, model, ds, split, build_model(model, ds, split, 0, spec)


def print_run_table(rows: dict[str, dict[str, float]]) -> None:
    """A Markdown table with one row per run and one column per figure (4 decimals)."""
    cols = list(next(iter(rows.values())))
    print("| run | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.4f}" for c in cols) + " |")


def full_batches(ds, cfg) -> list:
    """Epoch 0's training batches of seed 0's split at ``cfg``'s batch size, the short last one dropped (the step
    benchmarks time full batches only)."""
    from m2vae_pyro.data import TripleBatch, TripleSampler, cold_start_split

    split = cold_start_split(ds, 0, cfg.cold_fraction, cfg.threshold)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, cfg.c_p, cfg.c_n)
    batches = [TripleBatch.from_triples(t, len(sampler)) for t in sampler.epoch(0, 0, cfg.batch_size)]
    return [b for b in batches if len(b.items) == cfg.batch_size]


def seeded_elbo(ds, cfg):
    """``(networks, ELBO module)`` of M²VAE at ``cfg``, initialised from seed 0, as the trainer builds them."""
    import pyro

    from m2vae_pyro.module.networks import M2VAENetworks
    from m2vae_pyro.programs import elbo_loss, programs

    pyro.set_rng_seed(0)
    nets = M2VAENetworks(ds, cfg)
    return nets, elbo_loss(*programs(nets))
