"""The co-occurrence term's forward on a large catalogue: one ``[B, K, d]`` gather, or blocks of it in a reused buffer.

``gathered_dot`` scores each example's anchor against its ``K`` candidate rows. On Amazon- and ML-20M-size
catalogues the candidates are gathered (``nn/similarity.py``); written as one gather, that is a fresh ``[B, K, d]``
tensor a step (105 MB at B = 4,096, K = 50, d = 128), written to memory and read back by the product. This times
one gather, the blocked form of session 23 (``bmm`` over 8-MB blocks) and the current one (``torch.linalg.vecdot`` over
``GATHER_BYTES`` blocks) on random data of that shape, checks that the current form equals one gather bit for bit,
and prints a table.

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
        return torch.linalg.vecdot(F.embedding(index, rows), anchor.unsqueeze(1))

    def bmm_blocks(block_bytes=8 * 2**20):  # session 23's form
        block = max(1, block_bytes // (args.k * args.d * 4))
        buffer, out = rows.new_empty(block * args.k, args.d), anchor.new_empty(args.batch, args.k)
        for lo in range(0, args.batch, block):
            hi = min(args.batch, lo + block)
            gathered = torch.index_select(rows, 0, index[lo:hi].reshape(-1), out=buffer[: (hi - lo) * args.k])
            torch.bmm(gathered.view(hi - lo, args.k, -1), anchor[lo:hi].unsqueeze(-1), out=out[lo:hi].unsqueeze(-1))
        return out

    def blocks():
        return similarity._gather_then_dot(anchor, rows, index)

    same = torch.equal(whole(), blocks())
    print(f"B = {args.batch}, K = {args.k}, d = {args.d}, {args.rows:,} rows; block of "
          f"{similarity.GATHER_BYTES / 2**20:g} MB; bit-identical to one gather: {same}")
    print("| threads | one gather ms | bmm, 8-MB blocks ms | vecdot, blocks ms | speed-up over one gather |")
    print("|---|---|---|---|---|")
    ratio = None
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        a, b, c = (median_ms(f, args.repeats, warmup=1) for f in (whole, bmm_blocks, blocks))
        ratio = a / c
        print(f"| {threads} | {a:.1f} | {b:.1f} | {c:.1f} | {ratio:.2f}× |")
    print(f"blocked gather speed-up: {ratio:.2f}")


if __name__ == "__main__":
    main()
