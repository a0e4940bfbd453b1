"""Exact per-user cold-item scoring on a synthetic catalogue, against this machine's fp32 matmul rate.

Reports pairs/s, the achieved GFLOP/s of the per-pair work, the matmul GFLOP/s measured in the same run, the
speed-up over a naive one-user-at-a-time loop, and the peak memory at two chunk sizes (each measured in a fresh
process). Last line: ``achieved/ceiling: X`` (issue 6 target: X ≥ 0.5).

Usage: python benchmarks/bench_eval.py [--users 20000] [--items 2000] [--memory-mb MB]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.data.dataset import Dataset, Modality, build_csr
from m2vae_pyro.evaluation.scoring import score_pairs
from m2vae_pyro.module.networks import M2VAENetworks


def catalogue(n_users: int, n_items: int, seed: int = 0) -> Dataset:
    """Random users and items with ML-like content (19 attributes, 1280-d image features)."""
    rng = np.random.default_rng(seed)
    attrs = [sorted(rng.choice(19, size=rng.integers(1, 4), replace=False)) for _ in range(n_items)]
    indptr, indices = build_csr(attrs)
    ds = Dataset(name="synthetic", user_ids=np.arange(n_users), item_ids=np.arange(n_items),
                 users=np.zeros(1, np.int64), items=np.zeros(1, np.int64), ratings=None, attr_indptr=indptr,
                 attr_indices=indices, attribute_names=[str(k) for k in range(19)], positive_threshold=None)
    present = rng.random(n_items) > 0.05
    ds.modalities["image"] = Modality(present=present)
    ds.set_features("image", rng.random((n_items, 1280), dtype=np.float32), present, origin="synthetic")
    return ds


def setup(users: int, items: int):
    torch.manual_seed(0)
    ds = catalogue(users, items)
    cfg = Config()
    nets = M2VAENetworks(ds, cfg).eval()
    return cfg, nets, None


def flops_per_pair(cfg: Config, n_modalities: int, n_terms: int) -> int:
    """Per-pair work: gate logits (2·d per modality), the mixture of K first-layer terms (2·K·h), tanh (h),
    the folded output layer (2·h)."""
    return 2 * cfg.d * n_modalities + (2 * n_terms + 3) * cfg.decoder_hidden


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def child(users: int, items: int, memory_mb: int) -> None:
    _, nets, prior = setup(users, items)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    score_pairs(nets, torch.arange(users), torch.arange(items), memory_mb=memory_mb)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mb": before / 1024, "peak_mb": after / 1024}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--memory-mb", type=int, default=None, help="chunk budget of the timed run (default: Config's)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.users, args.items, args.memory_mb)

    cfg, nets, prior = setup(args.users, args.items)
    users, items = torch.arange(args.users), torch.arange(args.items)
    score_pairs(nets, users[:256], items)  # warm-up
    budget = args.memory_mb or cfg.eval_memory_mb
    seconds = _timed(lambda: score_pairs(nets, users, items, memory_mb=budget))
    pairs = args.users * args.items
    k_terms = 1 + nets.n_modalities
    achieved = pairs * flops_per_pair(cfg, nets.n_modalities, k_terms) / seconds / 1e9
    ceiling = matmul_gflops()
    n_naive = 200
    naive = _timed(lambda: [score_pairs(nets, users[u : u + 1], items) for u in range(n_naive)])
    naive_per_user = naive / n_naive
    print("| catalogue | chunk budget | pairs | seconds | Mpairs/s | per-pair GFLOP/s | matmul GFLOP/s "
          "| naive loop s/user |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.users:,} users × {args.items:,} items | {budget} MB | {pairs:,} | {seconds:.2f} "
          f"| {pairs / seconds / 1e6:.2f} "
          f"| {achieved:.2f} | {ceiling:.1f} | {naive_per_user * 1e3:.1f} ms |")
    print(f"speed-up over the naive per-user loop: {naive_per_user * args.users / seconds:.1f}x")
    for mb in (16, 128):
        out = subprocess.run([sys.executable, __file__, "--child", "--users", str(args.users), "--items",
                              str(args.items), "--memory-mb", str(mb)], capture_output=True, text=True, check=True)
        mem = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"chunk budget {mb} MB: peak RSS {mem['peak_mb']:.0f} MB "
              f"(+{mem['peak_mb'] - mem['before_mb']:.0f} MB over the model and catalogue)")
    print(f"achieved/ceiling: {achieved / ceiling:.3f}")


if __name__ == "__main__":
    main()
