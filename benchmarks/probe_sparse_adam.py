"""Why ``user_updates = lazy`` covers the user table only (issue 34): torch's SparseAdam on a row-sparse gradient of
an ML-20M-size table against what a dense gradient costs there (one zero fill of the table), one thread.

The item table (26,744 × 128) receives ~20k distinct rows a batch from the co-occurrence term (Eq. 20), the user
table (138,493 × 128) ~2k. Prints the median of 11 calls per figure.

Usage: OMP_NUM_THREADS=1 python benchmarks/probe_sparse_adam.py
"""

from __future__ import annotations

import torch
from timing import median_ms


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print("| table | gradient rows | SparseAdam step ms | coalesce ms | dense zero fill ms |")
    print("|---|---|---|---|---|")
    for name, n, rows in (("items", 26744, 20000), ("users", 138493, 2048)):
        print(row(name, n, rows))


def row(name: str, n: int, rows: int) -> str:
    weight = torch.randn(n, 128, requires_grad=True)
    optim = torch.optim.SparseAdam([weight], lr=1e-3)
    grad = torch.sparse_coo_tensor(torch.randint(0, n, (1, rows)), torch.randn(rows, 128), (n, 128),
                                   check_invariants=False)

    def step():
        weight.grad = grad.clone()
        optim.step()

    adam, coalesce = median_ms(step, 11), median_ms(lambda: grad.clone().coalesce(), 11)
    fill = median_ms(lambda: torch.zeros(n, 128), 11)
    return f"| {name} ({n:,} × 128) | {rows:,} | {adam:.1f} | {coalesce:.1f} | {fill:.1f} |"

if __name__ == "__main__":
    main()
