"""Do the modality gates recover planted per-user modality preferences? (synthetic data, issue 6).

Trains M²VAE on ``m2vae_pyro.data.synthetic.generate`` data (300 users × 400 items × 30, d = 32, 15 epochs) and
reports, per setting, the AUC with which each user's mean image gate (Eq. 13, over the warm items) separates the
users planted to prefer the image view from the others, and the range of those mean gates. 0.5 is chance.

Usage: python benchmarks/probe_gates.py [--set KEY=VALUE ...]   (several --set: one extra row each)
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.data.synthetic import generate
from m2vae_pyro.m2vae import M2VAE

BASE = dict(d=32, decoder_hidden=64, c_p=5, c_n=10, batch_size=256, epochs=15, patience=15, threshold=None)


def probe(overrides: dict) -> tuple[float, float, float]:
    ds, prefers_image = generate(n_users=300, n_items=400, per_user=30, seed=0)
    model = M2VAE(ds, Config().replace(**BASE, **overrides))
    model.fit(progress=False)
    with torch.no_grad():
        views = model.nets.views(torch.from_numpy(model.split.items("train")))
        gates = model.nets.pair_modality_weights(views, model.nets.user_emb.weight)  # [M, U, I]
    image = gates[1].mean(1).numpy()
    pos, neg = image[prefers_image], image[~prefers_image]
    auc = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    return float(auc), float(image.min()), float(image.max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    settings = [{}] + [{k: json.loads(v) for k, v in (kv.split("=", 1) for kv in s.split(","))} for s in args.set]
    print("| setting | AUC | mean image gate range |")
    print("|---|---|---|")
    for over in settings:
        auc, lo, hi = probe(over)
        print(f"| {over or 'defaults'} | {auc:.3f} | {lo:.3f}–{hi:.3f} |")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
