"""Issue 34's scorer target (``bench_eval.py``: achieved/roofline ≥ 0.5): what would a fused per-pair pass buy?

The exact scorer of the MLP decoder (``evaluation/scoring.py``, presets v2 and paper-literal; the default preset's
residual decoder has no per-pair activation) sweeps a cache-sized tile ``[n users, I items, h]`` K + 3 times: the
first-layer mixture (K addcmul passes), the activation, the product with the folded output layer, the sum. This
probe times that eager tile against the same arithmetic compiled by ``torch.compile`` (Inductor's C++ backend: one
fused loop), on the tile the scorer uses for the ML-100K-sized catalogue, one thread.

Last line: ``compiled/eager tile time: X`` (compile time printed apart: it is paid once per process and shape).

Usage: python benchmarks/probe_compiled_tile.py [--users 12] [--items 336] [--hidden 256] [--k 2] [--reps 50]
"""

from __future__ import annotations

import argparse
import time

import torch


def tile(base, weights, proj, w_out, bias):
    """The scorer's per-pair pass in eager form: ``σ(base + Σ_k w_k p_k) · w_out``, summed over the hidden units."""
    pre = torch.addcmul(base, weights[0].unsqueeze(-1), proj[0].unsqueeze(0))
    for k in range(1, len(weights)):
        pre.addcmul_(weights[k].unsqueeze(-1), proj[k].unsqueeze(0))
    torch.sigmoid_(pre)
    return pre.mul_(w_out.unsqueeze(1)).sum(-1) + bias[:, None]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=12)  # 4 MiB / (4 B · 336 · 256): the scorer's tile
    p.add_argument("--items", type=int, default=336)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--reps", type=int, default=50)
    args = p.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    n, i, h, k = args.users, args.items, args.hidden, args.k
    inputs = (torch.randn(i, h, generator=g), torch.rand(k, n, i, generator=g), torch.randn(k, i, h, generator=g),
              torch.randn(n, h, generator=g), torch.randn(n, generator=g))
    t0 = time.perf_counter()
    fused = torch.compile(tile, dynamic=False)
    expect, got = tile(*inputs), fused(*inputs)
    compile_s = time.perf_counter() - t0
    times = {}
    for name, fn in (("eager", tile), ("compiled", fused)):
        fn(*inputs)
        t0 = time.perf_counter()
        for _ in range(args.reps):
            fn(*inputs)
        times[name] = (time.perf_counter() - t0) / args.reps
    print(f"tile {n} users × {i} items × {h} hidden, K = {k}; max |compiled − eager| = "
          f"{float((got - expect).abs().max()):.2e}; compile {compile_s:.1f} s")
    print("| form | ms a tile |\n|---|---|")
    for name, s in times.items():
        print(f"| {name} | {1e3 * s:.3f} |")
    print(f"compiled/eager tile time: {times['compiled'] / times['eager']:.3f}")


if __name__ == "__main__":
    main()
