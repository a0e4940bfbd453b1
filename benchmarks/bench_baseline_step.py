"""What a training step of each learned baseline costs, and the training epoch it implies — without running the
epoch: the cheap way to compare two versions of a baseline's code on the large sets (an Amazon epoch of MVGAE
takes minutes; ``bench_epoch.py`` times whole epochs with their validation pass).

Each model is built as its experiment cell is (``experiments/models.py::build_model``: same split, same seeded
batches, its preset for the dataset's family); after 3 warm-up steps, the median of ``--steps`` steps (loss,
backward, Adam) is multiplied by the number of batches in an epoch. Pyro's argument checks are off, as in
``TrainedBaseline.fit``. One thread (``--threads``).

Usage: python benchmarks/bench_baseline_step.py [--datasets amazon-beauty] [--models clcrec,mvgae,...]
       [--steps 20] [--threads 1] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyro
import torch
from real_data import table3_cells

from m2vae_pyro.baselines.registry import LEARNED
from m2vae_pyro.data.sampling import TripleSampler

WARMUP = 3


def step_seconds(rec, sampler: TripleSampler, steps: int) -> float:
    """Median seconds of ``steps`` training steps of ``rec`` after :data:`WARMUP` steps, on epoch 0's batches."""
    rec.train()
    optim = torch.optim.Adam([p for p in rec.parameters() if p.requires_grad], lr=rec.settings.lr, fused=True)
    times = []
    for k, batch in enumerate(rec.batches(sampler, 0)):
        if k == WARMUP + steps:
            break
        t0 = time.perf_counter()
        loss = rec.loss(batch)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if k >= WARMUP:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="amazon-beauty")
    p.add_argument("--models", default=",".join(LEARNED))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pyro.enable_validation(False)
    print(f"threads: {args.threads}, median of {args.steps} steps after {WARMUP}")
    print("| dataset | model | ms per step | steps per epoch | training s per epoch |")
    print("|---|---|---|---|---|")
    for name, model, ds, split, rec in table3_cells(args.datasets, args.models, args.data_dir):
        if rec is not None:
            s = rec.settings
            sampler = TripleSampler(split, ds.n_users, ds.n_items, s.c_p, s.c_n)
            rec.prepare(sampler, False)
            seconds = step_seconds(rec, sampler, args.steps)
            n = sum(1 for _ in rec.batches(sampler, 1))
            print(f"| {name} | {model} | {seconds * 1e3:.0f} | {n} | {seconds * n:.0f} |", flush=True)

if __name__ == "__main__":
    main()
