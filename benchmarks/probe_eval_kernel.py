"""Where the exact evaluator's time goes, and what a fused kernel would buy (issue 6, bench_eval follow-up).

Per (user, item) pair the exact scorer must evaluate ``Σ_h v_uh · tanh(b_ih + Σ_k w_kui · P_kih)`` (docs/design.md §5:
what is left of Eq. 19 after the per-item parts are taken out); the tanh makes it element-wise, not a matrix product.
This script times that per-pair kernel on one chunk, as ``evaluation/scoring.py`` runs it (in-place ops on a
``[U, I, h]`` buffer, then one batched product) and fused by ``torch.compile``, at several chunk sizes, against
the fp32 matmul rate measured in the same run.

Usage: python benchmarks/probe_eval_kernel.py [--items 2000] [--hidden 256] [--terms 3]
"""

from __future__ import annotations

import argparse
import time

import torch


def staged(base, proj, w, v):
    pre = base.expand(w.shape[1], -1, -1).clone()
    for k in range(len(proj)):
        pre.addcmul_(w[k].unsqueeze(-1), proj[k].unsqueeze(0))
    torch.tanh_(pre)
    return torch.bmm(pre, v.unsqueeze(-1)).squeeze(-1)


def fused(base, proj, w, v):
    pre = base + (w.unsqueeze(-1) * proj.unsqueeze(1)).sum(0)
    return (torch.tanh(pre) * v[:, None, :]).sum(-1)


def median_seconds(fn, *args, repeats: int = 5) -> float:
    fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--terms", type=int, default=3, help="K: the common view plus one per modality")
    args = p.parse_args()
    n_items, h, k = args.items, args.hidden, args.terms
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    ceiling = 2 * n**3 / median_seconds(torch.mm, a, b) / 1e9
    compiled = torch.compile(fused, dynamic=False)
    flops = (2 * k + 3) * h  # per pair: K multiply-adds, tanh, the output multiply-add (tanh counted as one)
    print(f"fp32 matmul: {ceiling:.1f} GFLOP/s ({torch.get_num_threads()} threads); per-pair work {flops} flop")
    print("| users per chunk | buffer MB | staged GFLOP/s | staged/ceiling | fused (torch.compile) GFLOP/s "
          "| fused/ceiling |")
    print("|---|---|---|---|---|---|")
    for users in (8, 32, 128, 512):
        base, proj = torch.randn(n_items, h), torch.randn(k, n_items, h)
        w, v = torch.rand(k, users, n_items), torch.randn(users, h)
        torch.testing.assert_close(compiled(base, proj, w, v), staged(base, proj, w, v), rtol=1e-4, atol=1e-3)
        rates = [users * n_items * flops / median_seconds(fn, base, proj, w, v) / 1e9 for fn in (staged, compiled)]
        print(f"| {users} | {users * n_items * h * 4 / 2**20:.0f} | {rates[0]:.2f} | {rates[0] / ceiling:.3f} "
              f"| {rates[1]:.2f} | {rates[1] / ceiling:.3f} |", flush=True)


if __name__ == "__main__":
    main()
