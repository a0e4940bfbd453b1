"""Exact per-user cold-item scoring against the element-wise roofline of its per-pair work (issue 22).

For each catalogue (Amazon Sports size, 35,598 users × 1,836 cold items with attributes only, and ML-100K size,
943 × 336 with attributes and images; synthetic content) it times the exact scorer and, in the same run, the
irreducible per-pair work: one activation pass and one multiply-add pass over a float32 tensor of
``pairs × hidden`` elements in cache-sized tiles, the fastest of a few tile sizes. It also reports the achieved
GFLOP/s beside the matmul rate (for reference), the speed-up over the naive one-user-at-a-time loop, and the peak
memory at two chunk budgets (fresh processes). Last line: ``achieved/roofline: X`` (roofline time ÷ scorer time,
of the larger catalogue; target X ≥ 0.5).

Usage: python benchmarks/bench_eval.py [--catalogues 35598x1836a,943x336] [--memory-mb MB]
       (a trailing ``a``: attributes only)
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


def catalogue(n_users: int, n_items: int, seed: int = 0, image: bool = True) -> Dataset:
    """Random users and items with ML-like content (19 attributes, and 1280-d image features unless not ``image``)."""
    rng = np.random.default_rng(seed)
    attrs = [sorted(rng.choice(19, size=rng.integers(1, 4), replace=False)) for _ in range(n_items)]
    indptr, indices = build_csr(attrs)
    ds = Dataset(name="synthetic", user_ids=np.arange(n_users), item_ids=np.arange(n_items),
                 users=np.zeros(1, np.int64), items=np.zeros(1, np.int64), ratings=None, attr_indptr=indptr,
                 attr_indices=indices, attribute_names=[str(k) for k in range(19)], positive_threshold=None)
    if image:
        present = rng.random(n_items) > 0.05
        ds.modalities["image"] = Modality(present=present)
        ds.set_features("image", rng.random((n_items, 1280), dtype=np.float32), present, origin="synthetic")
    return ds


def setup(users: int, items: int, image: bool = True):
    torch.manual_seed(0)
    ds = catalogue(users, items, image=image)
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


def _sweep(buf: torch.Tensor, w: torch.Tensor, v: torch.Tensor, n_tiles: int, rest: int) -> None:
    for _ in range(n_tiles):
        torch.sigmoid_(buf)
        buf.addcmul_(w, v)
    if rest:
        part = buf.view(-1)[:rest]
        torch.sigmoid_(part)
        part.add_(0.5)


def roofline_seconds(pairs: int, hidden: int, repeats: int = 3) -> tuple[float, int]:
    """The fastest time of one activation pass (σ, in place) and one multiply-add pass (``addcmul_``) over
    ``pairs × hidden`` float32 elements, tile by tile, over a few tile sizes; returns (seconds, tile bytes)."""
    best = (float("inf"), 0)
    total = pairs * hidden
    for tile_bytes in (2**20, 4 * 2**20, 16 * 2**20):
        rows = max(1, tile_bytes // (4 * hidden))
        buf, w, v = torch.rand(rows, hidden), torch.rand(rows, 1), torch.rand(1, hidden)
        n_tiles, rest = divmod(total, rows * hidden)
        _sweep(buf, w, v, n_tiles, rest)  # warm-up
        t = min(_timed(lambda b=buf, w=w, v=v, n=n_tiles, r=rest: _sweep(b, w, v, n, r)) for _ in range(repeats))
        best = min(best, (t, tile_bytes))
    return best


def measure(text: str, memory_mb: int | None, ceiling: float) -> float:
    """One table row for the catalogue ``text``; returns achieved/roofline."""
    n_users, n_items, image = parse_catalogue(text)
    cfg, nets, _ = setup(n_users, n_items, image)
    users, items = torch.arange(n_users), torch.arange(n_items)
    score_pairs(nets, users[:256], items)  # warm-up
    budget = memory_mb or cfg.eval_memory_mb
    seconds = min(_timed(lambda: score_pairs(nets, users, items, memory_mb=budget)) for _ in range(2))
    pairs = n_users * n_items
    achieved = pairs * flops_per_pair(cfg, nets.n_modalities, 1 + nets.n_modalities) / seconds / 1e9
    roof, tile = roofline_seconds(pairs, cfg.decoder_hidden)
    n_naive = min(200, n_users)
    naive = _timed(lambda: [score_pairs(nets, users[u : u + 1], items) for u in range(n_naive)]) / n_naive
    print(f"| {n_users:,} users × {n_items:,} items | {nets.n_modalities} | {budget} MB | {pairs:,} "
          f"| {seconds:.2f} | {pairs / seconds / 1e6:.1f} | {roof:.2f} ({tile >> 20} MB) | {roof / seconds:.3f} "
          f"| {achieved:.2f} | {ceiling:.1f} | {naive * 1e3:.1f} ms/user | {naive * n_users / seconds:.0f}x |",
          flush=True)
    return roof / seconds


def child(users: int, items: int, memory_mb: int, image: bool) -> None:
    _, nets, prior = setup(users, items, image)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    score_pairs(nets, torch.arange(users), torch.arange(items), memory_mb=memory_mb)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mb": before / 1024, "peak_mb": after / 1024}))


def parse_catalogue(text: str) -> tuple[int, int, bool]:
    image = not text.endswith("a")
    users, items = text.rstrip("a").split("x")
    return int(users), int(items), image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalogues", default="35598x1836a,943x336")
    p.add_argument("--memory-mb", type=int, default=None, help="chunk budget of the timed run (default: Config's)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        users, items, image = parse_catalogue(args.child)
        return child(users, items, args.memory_mb, image)

    ceiling = matmul_gflops()
    print("| catalogue | modalities | chunk budget | pairs | scorer s | Mpairs/s | roofline s (tile) "
          "| achieved/roofline | per-pair GFLOP/s | matmul GFLOP/s | naive loop | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = [measure(text, args.memory_mb, ceiling) for text in args.catalogues.split(",")]
    for text in args.catalogues.split(","):
        for mb in (16, 128):
            out = subprocess.run([sys.executable, __file__, "--child", text, "--memory-mb", str(mb)],
                                 capture_output=True, text=True, check=True)
            mem = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{text}, chunk budget {mb} MB: peak RSS {mem['peak_mb']:.0f} MB "
                  f"(+{mem['peak_mb'] - mem['before_mb']:.0f} MB over the model and catalogue)")
    print(f"achieved/roofline: {ratios[0]:.3f}")


if __name__ == "__main__":
    main()
