"""How training and exact evaluation time grow with the catalogue (synthetic data, ×1, ×2, ×4, ×8).

Users and items both grow by the factor, with a fixed number of interactions per user, so the training work
(triples per epoch) grows linearly and the evaluation work (user × cold-item pairs) quadratically. The table
reports time per unit of work; flat columns mean time is linear in the work. It ends with a projection for an
ML-20M-sized run (138k users, 27k items, 20M interactions) from the largest scale measured.

Usage: python benchmarks/bench_scaling.py [--base-users 1000] [--base-items 1000] [--per-user 20] [--png PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.data.synthetic import generate
from m2vae_pyro.evaluation.protocols import candidate_users
from m2vae_pyro.m2vae import M2VAE


def measure(scale: int, args) -> dict:
    ds, _ = generate(n_users=args.base_users * scale, n_items=args.base_items * scale, per_user=args.per_user,
                     image_dim=args.image_dim, seed=scale)
    cfg = Config().replace(threshold=None, epochs=1, eval_every=10**6)  # paper sizes: d 128, batch 1024, (10, 40)
    model = M2VAE(ds, cfg)
    trainer = model.trainer(progress=False)
    t0 = time.perf_counter()
    trainer.run()
    train_s = time.perf_counter() - t0
    users, items = candidate_users(model.split), model.split.items("test")
    t0 = time.perf_counter()
    with torch.inference_mode():
        model.score_indices(torch.from_numpy(users), torch.from_numpy(items))
    eval_s = time.perf_counter() - t0
    return {"scale": scale, "users": ds.n_users, "items": ds.n_items, "triples": len(trainer.plan.sampler),
            "pairs": len(users) * len(items), "train_s": train_s, "eval_s": eval_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-users", type=int, default=1000)
    p.add_argument("--base-items", type=int, default=1000)
    p.add_argument("--per-user", type=int, default=20)
    p.add_argument("--image-dim", type=int, default=1280)
    p.add_argument("--scales", default="1,2,4,8")
    p.add_argument("--png", type=Path, default=Path(__file__).with_name("scaling.png"))
    args = p.parse_args()
    rows = [measure(int(s), args) for s in args.scales.split(",")]
    print("| scale | users | items | triples/epoch | train s/epoch | s per 1M triples | eval pairs | eval s "
          "| s per 1M pairs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| ×{r['scale']} | {r['users']:,} | {r['items']:,} | {r['triples']:,} | {r['train_s']:.2f} | "
              f"{r['train_s'] / r['triples'] * 1e6:.1f} | {r['pairs']:,} | {r['eval_s']:.2f} | "
              f"{r['eval_s'] / r['pairs'] * 1e6:.3f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, work, secs, label in ((axes[0], "triples", "train_s", "training: one epoch"),
                                  (axes[1], "pairs", "eval_s", "exact evaluation: all test pairs")):
        x = np.array([r[work] for r in rows], dtype=float)
        y = np.array([r[secs] for r in rows])
        ax.plot(x, y, "o-", label="measured")
        ax.plot(x, y[-1] / x[-1] * x, "--", label="linear through the largest")
        ax.set_xlabel(work), ax.set_ylabel("seconds"), ax.set_title(label, fontsize=10), ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.png, dpi=100)
    big = rows[-1]
    triples_20m = 0.8 * 0.58 * 20_000_000  # ~58% of ML-20M ratings are ≥ 4 (ML-100K: 55%); 80% on warm items
    pairs_20m = 138_493 * (0.1 * 26_744)  # every user × the test cold items (10% of the items)
    epoch_s = big["train_s"] / big["triples"] * triples_20m
    eval_s = big["eval_s"] / big["pairs"] * pairs_20m
    print(f"plot written to {args.png}")
    print(f"ML-20M projection (rates of ×{big['scale']}): one epoch of {triples_20m / 1e6:.1f}M triples ≈ "
          f"{epoch_s / 60:.0f} min; one exact test evaluation of {pairs_20m / 1e6:.0f}M pairs ≈ {eval_s / 60:.1f} min")


if __name__ == "__main__":
    main()
