"""An ML-20M-size training epoch, measured on its first steps (issue 34: one epoch ≤ 15 min on both cores).

Reads a synthetic folder written by ``m2vae data synth`` (the ML-20M size: ``m2vae data synth ml20m --out DIR
--users 138493 --items 26744 --image-dim 1280 --per-user 144 --attributes 20``), builds the default M²VAE as
``m2vae train`` does, runs ``--steps`` training steps of the first epoch with ``--threads`` intra-op threads, then one
exact validation pass, and projects the epoch: the sampler's set-up + batches × (median step + median batch
assembly) + the validation pass. Peak RSS of the process is printed. A full epoch (``m2vae train … --epochs 1``)
measures the same thing in 30–40 min of both cores.

Usage: python benchmarks/bench_large_epoch.py --data-dir DIR [--dataset synth-ml20m] [--steps 200] [--threads 2]
       [--set KEY=VALUE …]  (a config field, as m2vae's --set: user_updates=lazy)
Last line: ``projected epoch minutes: X`` (target ≤ 15 on both cores).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import pyro
import torch
from real_data import load_or_exit

from m2vae_pyro.config import load_config, parse_field
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.m2vae import M2VAE


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dataset", default="synth-ml20m")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    overrides = {k: parse_field(k, v) for k, _, v in (pair.partition("=") for pair in args.set)}
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = load_or_exit(args.dataset, args.data_dir, images=True, progress=False)
    model = M2VAE(ds, load_config(args.dataset).replace(epochs=1, **overrides))
    load_s = time.perf_counter() - t0
    trainer = model.trainer(progress=False)
    sampler, cfg = trainer.plan.sampler, model.config
    n_batches = sampler.n_batches(cfg.batch_size, 1)
    model.nets.train()
    times, draws = [], []
    with pyro.validation_enabled(False):
        t = time.perf_counter()
        batches = iter(sampler.epoch(cfg.seed, 0, cfg.batch_size))
        first = next(batches)  # whatever the sampler does once an epoch is paid here, not per batch
        setup = time.perf_counter() - t
        for k in range(args.steps + 5):
            t = time.perf_counter()
            batch = TripleBatch.from_triples(first if k == 0 else next(batches), len(sampler))
            draws.append(time.perf_counter() - t)
            t = time.perf_counter()
            trainer._step(batch)
            times.append(time.perf_counter() - t)
    step, sample = statistics.median(times[5:]), statistics.median(draws[1:])
    model.nets.eval()
    t = time.perf_counter()
    model.evaluate("validation", ks=(5,))
    val_s = time.perf_counter() - t
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    minutes = (setup + n_batches * (step + sample) + val_s) / 60
    print(f"settings: {overrides or 'defaults'}")
    print("| dataset | users | items | triples | batches | threads | load s | epoch setup s | step ms | batch ms "
          "| validation s | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.dataset} | {ds.n_users:,} | {ds.n_items:,} | {len(sampler):,} | {n_batches:,} | {args.threads} "
          f"| {load_s:.0f} | {setup:.1f} | {1e3 * step:.1f} | {1e3 * sample:.1f} | {val_s:.0f} | {rss_gb:.1f} |")
    print(f"projected epoch minutes: {minutes:.1f}")


if __name__ == "__main__":
    main()
