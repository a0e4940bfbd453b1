"""The metrics' top k (``evaluation/metrics.py::top_candidates``) against the stable sort of whole rows it replaced,
on random scores of an ML-20M-size validation matrix (validation items × every user), and that both give the same
indices.

Usage: OMP_NUM_THREADS=2 python benchmarks/probe_topk.py [--queries 2700] [--candidates 138493] [--k 5] [--threads 2]
Last line: ``top_candidates speed-up: X``.
"""

from __future__ import annotations

import argparse

import torch
from timing import median_ms

from m2vae_pyro.evaluation.metrics import top_candidates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=2700)
    p.add_argument("--candidates", type=int, default=138493)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    scores = torch.randn(args.queries, args.candidates, generator=torch.Generator().manual_seed(0))

    def whole_sort():
        return torch.sort(scores, dim=1, descending=True, stable=True).indices[:, : args.k]

    same = torch.equal(whole_sort(), top_candidates(scores, args.k))
    a = median_ms(whole_sort, args.repeats)
    b = median_ms(lambda: top_candidates(scores, args.k), args.repeats)
    print(f"{args.queries:,} × {args.candidates:,} scores, k = {args.k}, {args.threads} threads; same indices: {same}")
    print("| stable sort s | top_candidates s |\n|---|---|")
    print(f"| {a / 1e3:.1f} | {b / 1e3:.1f} |")
    print(f"top_candidates speed-up: {a / b:.2f}")


if __name__ == "__main__":
    main()
