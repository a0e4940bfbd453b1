"""Issue 34's scorer target: can an eager rewrite of the per-pair tile beat the scorer's current form?

The tile of ``evaluation/scoring.py`` (MLP decoder) on the ML-100K-sized catalogue — 12 users × 336 items × 256
hidden, K = 2 mixture terms after the convex fold — in its current form (addcmul into the buffer, addcmul in
place, σ in place, product with the folded output layer in place, sum) against three rewrites: the output layer as
``torch.linalg.vecdot`` (one fused pass instead of mul + sum), the first term as a product then ``add_(base)``, and
a copy of ``base`` then two in-place addcmuls. Then each pass alone. One thread; mean of 300 runs; run it with the
machine otherwise idle (``kill -STOP`` any background job).

Last line: ``fastest form: NAME``.

Usage: python benchmarks/probe_tile_forms.py
"""

from __future__ import annotations

import time

import torch

N, ITEMS, H = 12, 336, 256


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    base, w = torch.randn(ITEMS, H, generator=g), torch.rand(2, N, ITEMS, generator=g)
    p = torch.randn(2, ITEMS, H, generator=g)
    w_out, bias = torch.randn(N, H, generator=g), torch.randn(N, generator=g)
    buf = torch.empty(N, ITEMS, H)

    def current():
        torch.addcmul(base, w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf)
        buf.addcmul_(w[1].unsqueeze(-1), p[1].unsqueeze(0))
        torch.sigmoid_(buf)
        return buf.mul_(w_out.unsqueeze(1)).sum(-1) + bias[:, None]

    def vecdot_output():
        torch.addcmul(base, w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf)
        buf.addcmul_(w[1].unsqueeze(-1), p[1].unsqueeze(0))
        torch.sigmoid_(buf)
        return torch.linalg.vecdot(buf, w_out.unsqueeze(1)) + bias[:, None]

    def product_then_base():
        torch.mul(w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf)
        buf.add_(base).addcmul_(w[1].unsqueeze(-1), p[1].unsqueeze(0))
        torch.sigmoid_(buf)
        return torch.linalg.vecdot(buf, w_out.unsqueeze(1)) + bias[:, None]

    def copy_then_addcmul():
        buf.copy_(base.expand_as(buf))
        buf.addcmul_(w[0].unsqueeze(-1), p[0].unsqueeze(0)).addcmul_(w[1].unsqueeze(-1), p[1].unsqueeze(0))
        torch.sigmoid_(buf)
        return torch.linalg.vecdot(buf, w_out.unsqueeze(1)) + bias[:, None]

    passes = {"addcmul into the buffer": lambda: torch.addcmul(base, w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf),
              "addcmul in place": lambda: buf.addcmul_(w[1].unsqueeze(-1), p[1].unsqueeze(0)),
              "σ in place": lambda: torch.sigmoid_(buf),
              "vecdot": lambda: torch.linalg.vecdot(buf, w_out.unsqueeze(1))}

    def timed(fn) -> float:
        fn()
        t0 = time.perf_counter()
        for _ in range(300):
            fn()
        return (time.perf_counter() - t0) / 300 * 1e3

    expect = current().clone()
    forms = {f.__name__: f for f in (current, vecdot_output, product_then_base, copy_then_addcmul)}
    print(f"tile {N} users × {ITEMS} items × {H} hidden, K = 2, one thread")
    print("| form | ms a tile | max |Δ| to current |\n|---|---|---|")
    times = {}
    for name, fn in forms.items():
        times[name] = timed(fn)
        print(f"| {name} | {times[name]:.3f} | {float((fn() - expect).abs().max()):.1e} |")
    print("| pass alone | ms |\n|---|---|")
    for name, fn in passes.items():
        print(f"| {name} | {timed(fn):.3f} |")
    print(f"fastest form: {min(times, key=times.get)}")


if __name__ == "__main__":
    main()
