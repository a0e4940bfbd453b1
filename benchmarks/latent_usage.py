"""Does a trained M²VAE use its latent ``z`` for cold items, or only the raw content beside it in Eq. 19?

For each run directory (``m2vae train … --out RUN``) prints validation HR@5 four ways — as trained; on the other
cold path (``guide`` ↔ ``prior``, docs/design.md (version 2)); with the
cold path's mean of z replaced by ``z = 0`` (the decoder sees only ``[a_i; c_i]``); with the raw content blocks
replaced by 0 (the decoder sees only ``z``), beside the untrained ``userpop`` reference — and, on up to 3,000
warm items, the mean norms of the ID view ``μ_e`` (Eq. 2) and of the fused content view ``μ_f`` (Eq. 16), the
posterior's mean standard deviation per dimension (Eq. 17), and the share of the variance of the validation score
matrix that is a per-user constant (what ``userpop`` ranks by in the item-to-user protocol).

The last line is ``z=0 validation HR@5 ratio: R`` for the first run (HR@5 with z = 0 over HR@5 as trained; issue
19's target for the default model on ML-100K: R ≤ 0.90). The cold path is the run's own (``Config.cold_path``).

Usage: python benchmarks/latent_usage.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from real_data import print_run_table

from m2vae_pyro.baselines import userpop_scorer
from m2vae_pyro.evaluation.protocols import evaluate
from m2vae_pyro.runs import load_run


def zero_mean(cold_mean_terms):
    """The cold path's mixture weights with every component at 0: ``E[z] = 0`` for every pair."""

    def terms(views, user):
        weights, vectors = cold_mean_terms(views, user)
        return weights, torch.zeros_like(vectors)

    return terms


def val_hr5(model) -> float:
    return model.evaluate("validation", ks=(5,))["hr@5"]


@torch.no_grad()
def usage(run: Path) -> dict[str, float]:
    model = load_run(run)
    nets, split = model.nets, model.split
    row = {"as trained": val_hr5(model)}
    other = "prior" if nets.config.cold_path == "guide" else "guide"
    config = nets.config
    nets.config = dataclasses.replace(config, cold_path=other)  # docs/design.md (version 2): report both cold paths
    row[f"{other} path"] = val_hr5(model)
    nets.config = config
    nets.cold_mean_terms = zero_mean(type(nets).cold_mean_terms.__get__(nets))
    row["z = 0"] = val_hr5(model)
    del nets.cold_mean_terms  # back to the class's method
    views = nets.views

    def without_content(items):
        v = views(items)
        return dataclasses.replace(v, raw=[torch.zeros_like(r) for r in v.raw])

    nets.views = without_content
    row["content = 0"] = val_hr5(model)
    nets.views = views
    row["userpop"] = evaluate(userpop_scorer(model.ds, split), model.ds, split, "validation", (5,))["hr@5"]

    warm = torch.from_numpy(split.items("train")[:3000])
    v = nets.views(warm)
    activity = split.user_activity(nets.n_users)
    user = nets.user_emb(torch.full((len(warm),), int(np.argmax(activity))))
    fused = nets.fuse(v, v.mu, v.mu_com, user)
    mu_e, _ = nets.id_head(nets.item_emb(warm))
    row["|μ_e|"] = float(mu_e.norm(dim=-1).mean())
    row["|μ_f|"] = float(fused.mu.norm(dim=-1).mean())
    row["posterior sd"] = float(nets.posterior_dist(v, fused, warm, None).base_dist.scale.mean())  # Eq. 17–18

    scores = model.score_indices(torch.arange(nets.n_users), torch.from_numpy(split.items("validation"))).double()
    centred = scores - scores.mean()
    row["user share"] = float((centred.mean(1) ** 2).mean() / (centred**2).mean())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    rows = {run.name: usage(run) for run in args.runs}
    print_run_table(rows)
    first = next(iter(rows.values()))
    print(f"z=0 validation HR@5 ratio: {first['z = 0'] / first['as trained']:.3f}")


if __name__ == "__main__":
    main()
