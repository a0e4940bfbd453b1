"""Do the modality gates recover planted modality preferences? (synthetic data, issue 6).

Trains M²VAE on synthetic data (300 users × 400 items × 30 picks, d = 32, 15 epochs) and reports, per setting,
the AUC with which the image gate (Eq. 13) separates the planted choice of view from the other one. 0.5 is chance.

Two planted structures:

- ``user`` (``m2vae_pyro.data.synthetic.generate``): each user likes items through the attribute-specific *or* the
  image-specific factor; the readout is each user's image gate averaged over the warm items.
- ``pair``: which view-specific factor drives user u's taste for item i is the sign of ``r_u · s_i`` (``s_i`` the
  shared item factor), so the better view depends on the (user, item) pair — the form Eq. 12 can express; the
  readout is the gate of every (user, warm item) pair.

``--no-decoder-content`` is a control: the decoder sees only ``z`` (not Eq. 19's raw ``a_i``, ``c_i``), so content
can reach ``e_new`` only through the gated views.

The last line is ``gate recovery AUC: X`` of the first row (the defaults; issue 19's target: X ≥ 0.70).

Usage: python benchmarks/probe_gates.py [--planted user|pair] [--factors F] [--seed S] [--no-decoder-content]
       [--set KEY=VALUE[,KEY=VALUE] ...]   (each --set is one extra row after the defaults)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from m2vae_pyro.config import Config, parse_field
from m2vae_pyro.data.dataset import Dataset
from m2vae_pyro.data.synthetic import as_dataset, generate, planted_items
from m2vae_pyro.m2vae import M2VAE
from m2vae_pyro.nn.decoder import Decoder

BASE = dict(d=32, decoder_hidden=64, c_p=5, c_n=10, batch_size=256, epochs=15, patience=15, threshold=None)
SIZE = dict(n_users=300, n_items=400, per_user=30)


def pair_planted(n_users: int, n_items: int, per_user: int, seed: int, factors: int = 8, n_attributes: int = 40,
                 image_dim: int = 64) -> tuple[Dataset, np.ndarray]:
    """Like ``generate``, but the view-specific factor that counts is chosen per (user, item): ``[U, I]`` truth."""
    rng = np.random.default_rng(seed)
    items = planted_items(rng, n_items, n_attributes, image_dim, factors)
    switch, t_shared, t_attr, t_img = (rng.normal(size=(n_users, factors)) for _ in range(4))
    choose_image = switch @ items.shared.T > 0
    affinity = t_shared @ items.shared.T + np.where(choose_image, t_img @ items.image_own.T,
                                                    t_attr @ items.attr_own.T)
    return as_dataset(rng, items, affinity, per_user, "synth-pair"), choose_image


def auc(score: np.ndarray, truth: np.ndarray) -> float:
    """Mann–Whitney AUC of ``score`` for ``truth`` (ties count one half)."""
    score, truth = score.ravel(), truth.ravel().astype(bool)
    ranks = pd.Series(score).rank().to_numpy()  # average ranks for ties
    n_pos, n_neg = truth.sum(), (~truth).sum()
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def probe(planted: str, factors: int, seed: int, overrides: dict) -> tuple[float, float, float, float, float]:
    if planted == "user":
        ds, truth = generate(**SIZE, factors=factors, seed=seed)
    else:
        ds, truth = pair_planted(**SIZE, factors=factors, seed=seed)
    start = time.perf_counter()
    model = M2VAE(ds, Config().replace(**{**BASE, "seed": seed, **overrides}))
    model.fit(progress=False)
    warm = model.split.items("train")
    with torch.no_grad():
        views = model.nets.views(torch.from_numpy(warm))
        image = model.nets.pair_modality_weights(views, model.nets.user_emb.weight)[1].numpy()  # [U, I]
    if planted == "user":
        score, truth = image.mean(1), truth
    else:
        score, truth = image, truth[:, warm]
    return auc(score, truth), float(score.min()), float(score.max()), float(image.std()), time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--planted", choices=("user", "pair"), default="user")
    p.add_argument("--factors", type=int, default=8, help="size of each planted item factor (shared, per view)")
    p.add_argument("--seed", type=int, default=0, help="seeds the data and the model")
    p.add_argument("--no-decoder-content", action="store_true",
                   help="control: the decoder sees z only, not the raw content of Eq. 19")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    if args.no_decoder_content:
        Decoder.content_term = lambda self, content: 0.0
    settings = [{}] + [{k: parse_field(k, v) for k, v in (kv.split("=", 1) for kv in s.split(","))}
                       for s in args.set]
    readout = "per-user mean image gate" if args.planted == "user" else "per-pair image gate"
    print(f"planted: {args.planted}, factors {args.factors}, seed {args.seed}, "
          f"decoder content: {not args.no_decoder_content}")
    print(f"| setting | AUC | {readout}: range | sd of all pair gates | s |")
    print("|---|---|---|---|---|")
    aucs = []
    for over in settings:
        a, lo, hi, sd, seconds = probe(args.planted, args.factors, args.seed, over)
        aucs.append(a)
        print(f"| {over or 'defaults'} | {a:.3f} | {lo:.3f}–{hi:.3f} | {sd:.3f} | {seconds:.0f} |", flush=True)
    print(f"gate recovery AUC: {aucs[0]:.3f}")


if __name__ == "__main__":
    main()
