"""Two versions of the M²VAE training step in one process, their steps alternated over the same batches.

The machine's speed drifts by ~10–20 % within an hour (benchmarks/RESULTS.md), so two versions timed in separate
processes a minute apart can differ by more than the change being measured. Here the step of this checkout and the
step of another (``--base``: the root of a checkout or worktree, e.g. ``git worktree add /tmp/wt_base REV``) run
alternately — A B B A … — on the same batches, from the same seed, each with its own networks and optimisers, so
both see the same machine. The base's ``m2vae_pyro`` is copied and imported under another name.

Usage: python benchmarks/probe_ab_step.py --base DIR [--data-dir DIR] [--dataset ml-100k] [--steps 60]
       [--threads 1] [--batch-size N] [--set KEY=VALUE …]
Last line: ``this/base step time: X`` (below 1: this checkout is faster).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyro
import torch
from real_data import full_batches, load_or_exit

import m2vae_pyro


def load_version(root: str | None, workdir: Path):
    """The package ``m2vae_pyro`` of checkout ``root`` under a private name (this checkout's when ``None``)."""
    if root is None:
        return m2vae_pyro
    source = Path(root) / "m2vae_pyro"
    if not source.is_dir():
        sys.exit(f"--base {root}: no m2vae_pyro package there")
    shutil.copytree(source, workdir / "m2vae_base")
    sys.path.insert(0, str(workdir))
    return importlib.import_module("m2vae_base")


def build(pkg, ds, overrides: dict, batch_size: int | None):
    """``step(batch)``: one training step of ``pkg``'s M²VAE as its trainer takes it (networks seeded from 0)."""
    config = importlib.import_module(pkg.__name__ + ".config")
    programs = importlib.import_module(pkg.__name__ + ".programs")
    networks = importlib.import_module(pkg.__name__ + ".module.networks")
    trainer = importlib.import_module(pkg.__name__ + ".train.trainer")
    cfg = config.load_config(ds.name)
    if batch_size:
        cfg = cfg.replace(batch_size=batch_size)
    cfg = cfg.replace(**{k: config.parse_field(k, v) for k, v in overrides.items()})
    pyro.set_rng_seed(0)
    nets = networks.M2VAENetworks(ds, cfg)
    elbo = programs.elbo_loss(*programs.programs(nets))
    optims = trainer.optimisers(list(elbo.parameters()), nets.lazy_parameters(), cfg)
    nets.train()

    def step(batch):
        views = nets.views(batch.items)
        loss = elbo(batch, views, 1.0)
        for optim in optims:
            optim.zero_grad(set_to_none=True)
        loss.backward()
        for optim in optims:
            optim.step()

    return step, cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="root of the other checkout (holds m2vae_pyro/)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--steps", type=int, default=60, help="timed steps of each version")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    overrides = dict(pair.partition("=")[::2] for pair in args.set)

    ds = load_or_exit(args.dataset, args.data_dir, images=True, progress=False)
    with tempfile.TemporaryDirectory() as workdir:
        versions = {"this": load_version(None, Path(workdir)), "base": load_version(args.base, Path(workdir))}
        steps, cfg = {}, None
        for name, pkg in versions.items():
            steps[name], cfg = build(pkg, ds, overrides, args.batch_size)
        batches = full_batches(ds, cfg)
        times = {name: [] for name in steps}
        pyro.enable_validation(False)  # as in training
        warmup = 3
        for k in range(warmup + args.steps):
            order = ["this", "base"] if k % 2 == 0 else ["base", "this"]  # neither always runs first
            for name in order:
                t = time.perf_counter()
                steps[name](batches[k % len(batches)])
                if k >= warmup:
                    times[name].append(time.perf_counter() - t)

    this, base = statistics.median(times["this"]), statistics.median(times["base"])
    print(f"{args.dataset}, B = {cfg.batch_size}, threads {torch.get_num_threads()}, {args.steps} steps each, "
          f"settings {overrides or 'defaults'}, base {args.base}")
    print("| version | median step ms | quartiles ms |")
    print("|---|---|---|")
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4)
        print(f"| {name} | {1e3 * statistics.median(ts):.1f} | {1e3 * q[0]:.1f}–{1e3 * q[2]:.1f} |")
    print(f"this/base step time: {this / base:.3f}")


if __name__ == "__main__":
    main()
