"""What drawing the views ``z_a``, ``z_c``, ``z_com`` once per distinct item (instead of once per triple) would save
(issue 34; since taken as an option, ``Config.view_draws = item``: docs/paper-map.md).

An isolated forward + backward of the view-side work of a step — the reparametrised draws, the KL of the unique
views against N(0, I) (Eq. 23) and the pairwise DCL (Eq. 9–10) — on ML-100K's shapes: 1,024 triples over 451
distinct items, d = 128. ``per triple`` indexes the item parameters by triple first (the model as it is);
``per item`` works on the 451 rows and indexes the results by triple. One thread; median of 40 runs.

Usage: python benchmarks/probe_item_views.py
Last line: ``view work per triple / per item: X ms / Y ms``.
"""

from __future__ import annotations

import torch
from timing import median_ms
from torch.nn import functional as F

B, N_ITEMS, D = 1024, 451, 128


def view_work_ms(per_item: bool) -> float:
    torch.manual_seed(0)
    mu, lv = (torch.randn(2, N_ITEMS, D, requires_grad=True) for _ in range(2))
    mc, lc = (torch.randn(N_ITEMS, D, requires_grad=True) for _ in range(2))
    raw = torch.randn(2, N_ITEMS, D)
    row = torch.randint(0, N_ITEMS, (B,))

    def step() -> None:
        m, v, m2, v2, r = (mu, lv, mc, lc, raw) if per_item else (mu[:, row], lv[:, row], mc[row], lc[row], raw[:, row])
        z = m + (0.5 * v).exp() * torch.randn_like(m)
        zc = m2 + (0.5 * v2).exp() * torch.randn_like(m2)
        kl = 0.5 * (v.exp() + m.pow(2) - 1 - v).sum(-1)
        u_com = F.normalize(zc, dim=-1)
        dcl = sum(-(F.normalize(z[k], dim=-1) * F.normalize(r[k], dim=-1)).sum(-1)
                  + (F.normalize(z[k], dim=-1) * u_com).sum(-1) for k in range(2))
        if per_item:
            z, zc, kl, dcl = z[:, row], zc[row], kl[:, row], dcl[row]
        (kl.sum() + dcl.sum() + (z.sum(0) * zc).sum()).backward()

    return median_ms(step, 40, warmup=5)


def main() -> None:
    torch.set_num_threads(1)
    triple, item = view_work_ms(False), view_work_ms(True)
    print("| views drawn | ms (fwd + bwd) |\n|---|---|")
    print(f"| per triple | {triple:.1f} |\n| per item | {item:.1f} |")
    print(f"view work per triple / per item: {triple:.1f} ms / {item:.1f} ms")


if __name__ == "__main__":
    main()
