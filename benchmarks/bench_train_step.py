"""The real M²VAE training step under Pyro against the same loss as a plain PyTorch loop.

Both use the same modules, batches and optimiser (fused Adam, as in training); B = 1024, d = 128 and the dataset's
preset (c_p, c_n) — by default ML-100K with poster features (computed once and cached), or any dataset, e.g.
``--dataset amazon-beauty`` (attributes only). The script first checks that both give the same loss on the same
noise, then interleaves steps of the two and reports medians. Last line: ``throughput ratio pyro/plain: X``
(issue 6 target: X ≥ 0.9).

Usage: python benchmarks/bench_train_step.py [--dataset ml-100k] [--data-dir DIR] [--steps 40]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import pyro
import torch
from real_data import load_or_exit

from m2vae_pyro.config import load_config
from m2vae_pyro.data import TripleSampler, cold_start_split
from m2vae_pyro.guides import M2VAEGuide
from m2vae_pyro.inference.plain import plain_loss
from m2vae_pyro.models import M2VAEModel, TripleBatch, make_prior
from m2vae_pyro.nn.networks import M2VAENetworks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="default: $M2VAE_DATA, else ../shared/data")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()

    ds = load_or_exit(args.dataset, args.data_dir, images=True)  # a no-op for datasets without posters
    cfg = load_config(args.dataset)
    split = cold_start_split(ds, 0)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, cfg.c_p, cfg.c_n)
    batches = [TripleBatch.from_triples(t, len(sampler)) for t in sampler.epoch(0, 0, cfg.batch_size)]
    batches = [b for b in batches if len(b.items) == cfg.batch_size]

    pyro.set_rng_seed(0)
    nets = M2VAENetworks(ds, cfg)
    model, guide = M2VAEModel(nets, make_prior(cfg.prior, nets)), M2VAEGuide(nets)
    elbo = pyro.infer.TraceMeanField_ELBO()(model, guide)
    plain_model = copy.deepcopy(model)

    torch.manual_seed(1)
    a = float(elbo(batches[0]).detach())
    torch.manual_seed(1)
    b = float(plain_loss(plain_model, batches[0]).detach())
    assert np.isclose(a, b, rtol=1e-5), (a, b)
    print(f"same loss on the same noise: pyro {a:.6g}, plain {b:.6g}")

    pyro.enable_validation(False)  # as in training
    opt_pyro = torch.optim.Adam(elbo.parameters(), lr=cfg.lr, fused=True)
    opt_plain = torch.optim.Adam(plain_model.nets.parameters(), lr=cfg.lr, fused=True)

    def step(loss_fn, opt, batch):
        t0 = time.perf_counter()
        loss = loss_fn(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    times = {"pyro": [], "plain": []}
    for k in range(args.steps + 5):
        batch = batches[k % len(batches)]
        order = [("pyro", elbo, opt_pyro), ("plain", lambda x: plain_loss(plain_model, x), opt_plain)]
        for name, fn, opt in order if k % 2 == 0 else order[::-1]:
            batch.cache.clear()
            dt = step(fn, opt, batch)
            if k >= 5:  # warm-up steps are not counted
                times[name].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("| loop | median step ms | steps/s |")
    print("|---|---|---|")
    for name in ("plain", "pyro"):
        print(f"| {name} | {1e3 * med[name]:.1f} | {1 / med[name]:.2f} |")
    print(f"{args.dataset}, threads: {torch.get_num_threads()}, steps: {args.steps} each, interleaved")
    print(f"throughput ratio pyro/plain: {med['plain'] / med['pyro']:.3f}")


if __name__ == "__main__":
    main()
