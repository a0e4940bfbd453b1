"""The real M²VAE training step under Pyro against the same loss as a plain PyTorch loop.

Both use the same modules, batches and optimiser (fused Adam, as in training); B = 1024, d = 128 and the dataset's
preset (c_p, c_n) — by default ML-100K with poster features (computed once and cached), or any dataset, e.g.
``--dataset amazon-beauty`` (attributes only). The script first checks that both give the same loss on the same
noise, then interleaves steps of the two and reports medians, for version 1 (``paper-literal``) and version 2
(``default``). Last line: ``throughput ratio pyro/plain: X`` of version 2 (target: X ≥ 0.9).

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
from real_data import full_batches, load_or_exit, seeded_elbo

from m2vae_pyro.config import load_config
from m2vae_pyro.programs.plain import plain_loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="default: $M2VAE_DATA, else ../shared/data")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()

    ds = load_or_exit(args.dataset, args.data_dir, images=True)  # a no-op for datasets without posters
    rows = {preset: measure(ds, load_config(args.dataset, preset=preset), args.steps)
            for preset in ("paper-literal", "default")}
    print("| preset | loop | median step ms | steps/s |")
    print("|---|---|---|---|")
    for preset, med in rows.items():
        for name in ("plain", "pyro"):
            print(f"| {preset} | {name} | {1e3 * med[name]:.1f} | {1 / med[name]:.2f} |")
    print(f"{args.dataset}, threads: {torch.get_num_threads()}, steps: {args.steps} each, interleaved")
    v2_over_v1 = rows["default"]["pyro"] / rows["paper-literal"]["pyro"]
    print(f"pyro step version 2 / version 1 (paper-literal): {v2_over_v1:.3f} (target ≤ 1.3)")
    print(f"throughput ratio pyro/plain: {rows['default']['plain'] / rows['default']['pyro']:.3f}")


def measure(ds, cfg, steps: int) -> dict[str, float]:
    """Median step seconds of the Pyro ELBO and of the plain oracle for ``cfg``, interleaved on the same batches."""
    batches = full_batches(ds, cfg)
    nets, elbo = seeded_elbo(ds, cfg)
    plain_nets = copy.deepcopy(nets)

    def pyro_loss(batch):
        return elbo(batch, nets.views(batch.items))  # the trainer's step: one encoder pass, handed to both

    torch.manual_seed(1)
    a = float(pyro_loss(batches[0]).detach())
    torch.manual_seed(1)
    b = float(plain_loss(plain_nets, batches[0]).detach())
    assert np.isclose(a, b, rtol=1e-5), (a, b)
    print(f"{cfg.preset}: same loss on the same noise: pyro {a:.6g}, plain {b:.6g}")

    pyro.enable_validation(False)  # as in training
    opt_pyro = torch.optim.Adam(elbo.parameters(), lr=cfg.lr, fused=True)
    opt_plain = torch.optim.Adam(plain_nets.parameters(), lr=cfg.lr, fused=True)

    def step(loss_fn, opt, batch):
        t0 = time.perf_counter()
        loss = loss_fn(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    times = {"pyro": [], "plain": []}
    for k in range(steps + 5):
        batch = batches[k % len(batches)]
        order = [("pyro", pyro_loss, opt_pyro), ("plain", lambda x: plain_loss(plain_nets, x), opt_plain)]
        for name, fn, opt in order if k % 2 == 0 else order[::-1]:
            dt = step(fn, opt, batch)
            if k >= 5:  # warm-up steps are not counted
                times[name].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}


if __name__ == "__main__":
    main()
