"""The co-occurrence term's forward on a large catalogue: one ``[B, K, d]`` gather, or blocks of it in a reused buffer.

``gathered_dot`` scores each example's anchor against its ``K`` candidate rows. On Amazon- and ML-20M-size
catalogues the candidates are gathered (``nn/similarity.py``); written as one gather, that is a fresh ``[B, K, d]``
tensor a step (105 MB at B = 4,096, K = 50, d = 128), written to memory and read back by the product. This times the
two forms on random data of that shape, checks that they agree bit for bit, and prints a table.

Usage: OMP_NUM_THREADS=2 python benchmarks/probe_gather_dot.py [--batch 4096] [--rows 21400] [--threads 1,2]
"""

from __future__ import annotations

import argparse

import torch
from timing import median_ms
from torch.nn import functional as F

from m2vae_pyro.nn import similarity


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--k", type=int, default=50, help="candidates an example (c_p + c_n)")
    p.add_argument("--rows", type=int, default=21400, help="distinct candidate rows (a batch's co-items)")
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    torch.manual_seed(0)
    anchor, rows = torch.randn(args.batch, args.d), torch.randn(args.rows, args.d)
    index = torch.randint(0, args.rows, (args.batch, args.k))

    def whole():
        return torch.bmm(F.embedding(index, rows), anchor.unsqueeze(-1)).squeeze(-1)

    def blocks():
        return similarity._gather_then_dot(anchor, rows, index)

    same = torch.equal(whole(), blocks())
    print(f"B = {args.batch}, K = {args.k}, d = {args.d}, {args.rows:,} rows; block of "
          f"{similarity.GATHER_BYTES >> 20} MB; bit-identical: {same}")
    print("| threads | one gather ms | blocks ms | speed-up |")
    print("|---|---|---|---|")
    ratio = None
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        a, b = median_ms(whole, args.repeats, warmup=1), median_ms(blocks, args.repeats, warmup=1)
        ratio = a / b
        print(f"| {threads} | {a:.1f} | {b:.1f} | {ratio:.2f}× |")
    print(f"blocked gather speed-up: {ratio:.2f}")


if __name__ == "__main__":
    main()
