"""Issue 34's scorer target (``bench_eval.py``: achieved/roofline ≥ 0.5): what does the per-pair tile cost, can an
eager rewrite beat it, and what would a fused loop buy?

The exact scorer of the MLP decoder (``evaluation/scoring.py``, presets v2 and paper-literal; the default preset's
residual decoder has no per-pair activation) sweeps a cache-sized tile ``[users, items, hidden]``: the first-layer
mixture (an addcmul into the buffer, then one in place per further term), σ in place, the product with the folded
output layer in place, the sum over the hidden units. On the tile the scorer uses for the ML-100K-sized catalogue
(4 MiB: 12 users × 336 items × 256 hidden, K = 2 after the convex fold), one thread, this times

- that form against three eager rewrites (``torch.linalg.vecdot`` for the output layer; a product then ``add_``
  of the per-item base; a copy of the base then in-place addcmuls), and each pass alone;
- the same arithmetic compiled by ``torch.compile`` (Inductor's C++ backend: one fused loop), compile time apart.

Run it with the machine otherwise idle (``kill -STOP`` any background job). Earlier versions of this script (tanh
and a batched product, docs/history.md) timed the kernel the scorer had then.

Last lines: ``fastest eager form: NAME`` and ``compiled/eager tile time: X``.

Usage: python benchmarks/probe_eval_kernel.py [--users 12] [--items 336] [--hidden 256] [--reps 300]
"""

from __future__ import annotations

import argparse
import time

import torch


def current(buf, base, w, p, w_out, bias):
    """The scorer's form (``evaluation/scoring.py::score_pairs``, its tile loop)."""
    torch.addcmul(base, w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf)
    for k in range(1, len(w)):
        buf.addcmul_(w[k].unsqueeze(-1), p[k].unsqueeze(0))
    torch.sigmoid_(buf)
    return buf.mul_(w_out.unsqueeze(1)).sum(-1) + bias[:, None]


def vecdot_output(buf, base, w, p, w_out, bias):
    torch.addcmul(base, w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf)
    for k in range(1, len(w)):
        buf.addcmul_(w[k].unsqueeze(-1), p[k].unsqueeze(0))
    torch.sigmoid_(buf)
    return torch.linalg.vecdot(buf, w_out.unsqueeze(1)) + bias[:, None]


def product_then_base(buf, base, w, p, w_out, bias):
    torch.mul(w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf)
    buf.add_(base)
    for k in range(1, len(w)):
        buf.addcmul_(w[k].unsqueeze(-1), p[k].unsqueeze(0))
    torch.sigmoid_(buf)
    return torch.linalg.vecdot(buf, w_out.unsqueeze(1)) + bias[:, None]


def copy_then_addcmul(buf, base, w, p, w_out, bias):
    buf.copy_(base.expand_as(buf))
    for k in range(len(w)):
        buf.addcmul_(w[k].unsqueeze(-1), p[k].unsqueeze(0))
    torch.sigmoid_(buf)
    return torch.linalg.vecdot(buf, w_out.unsqueeze(1)) + bias[:, None]


def fused(base, w, p, w_out, bias):
    """The same arithmetic without a buffer, for the compiler to fuse into one loop."""
    pre = base + (w.unsqueeze(-1) * p.unsqueeze(1)).sum(0)
    return (torch.sigmoid(pre) * w_out.unsqueeze(1)).sum(-1) + bias[:, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=12)
    ap.add_argument("--items", type=int, default=336)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--terms", type=int, default=2, help="K after the convex fold")
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, i, h, k = args.users, args.items, args.hidden, args.terms
    g = torch.Generator().manual_seed(0)
    base, w, p = torch.randn(i, h, generator=g), torch.rand(k, n, i, generator=g), torch.randn(k, i, h, generator=g)
    w_out, bias, buf = torch.randn(n, h, generator=g), torch.randn(n, generator=g), torch.empty(n, i, h)
    inputs = (base, w, p, w_out, bias)

    def timed(fn) -> float:
        fn()
        t0 = time.perf_counter()
        for _ in range(args.reps):
            fn()
        return (time.perf_counter() - t0) / args.reps * 1e3

    expect = current(buf, *inputs).clone()
    print(f"tile {n} users × {i} items × {h} hidden, K = {k}, one thread")
    print("| form | ms a tile | max abs difference to the scorer's |\n|---|---|---|")
    eager = {}
    for fn in (current, vecdot_output, product_then_base, copy_then_addcmul):
        eager[fn.__name__] = timed(lambda fn=fn: fn(buf, *inputs))
        print(f"| {fn.__name__} | {eager[fn.__name__]:.3f} | {float((fn(buf, *inputs) - expect).abs().max()):.1e} |")
    t0 = time.perf_counter()
    compiled = torch.compile(fused, dynamic=False)
    got = compiled(*inputs)
    compile_s = time.perf_counter() - t0
    fused_ms = timed(lambda: compiled(*inputs))
    print(f"| compiled (torch.compile; {compile_s:.1f} s to compile) | {fused_ms:.3f} | "
          f"{float((got - expect).abs().max()):.1e} |")
    print("| pass alone | ms |\n|---|---|")
    passes = {"addcmul into the buffer": lambda: torch.addcmul(base, w[0].unsqueeze(-1), p[0].unsqueeze(0), out=buf),
              "addcmul in place": lambda: buf.addcmul_(w[-1].unsqueeze(-1), p[-1].unsqueeze(0)),
              "σ in place": lambda: torch.sigmoid_(buf),
              "product and sum (output layer)": lambda: buf.mul_(w_out.unsqueeze(1)).sum(-1),
              "vecdot (output layer)": lambda: torch.linalg.vecdot(buf, w_out.unsqueeze(1))}
    for name, fn in passes.items():
        print(f"| {name} | {timed(fn):.3f} |")
    print(f"fastest eager form: {min(eager, key=eager.get)}")
    print(f"compiled/eager tile time: {fused_ms / eager['current']:.3f}")


if __name__ == "__main__":
    main()
