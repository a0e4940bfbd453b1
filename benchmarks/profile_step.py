"""Where an M²VAE training step spends its time, by term: the trainer's step (encoder pass, Pyro ELBO, backward,
fused Adam) with every part of the forward timed exclusively (a part's time excludes the parts it calls).

The parts are wrapped here, in the script, so the library carries no timing code: the encoder pass (``views``: the
attribute pooling, image projection and content dropout inside it), the view draws, the gates (``fuse``), the ID
view and Eq. 17 (``posterior``), the conditional prior, the content path ``F_c`` (each call counted), the
likelihood, the ranking embedding and every factor (BPR, warm BPR, DCL, co-occurrence). ``pyro + rest`` is what
the ELBO's own bookkeeping (traces, plates, KL sums) and any unwrapped code cost. Then ``torch.profiler`` lists the
top operators.

Run on an idle core (one thread): the numbers are wall times.

Usage: python benchmarks/profile_step.py [--dataset ml-100k] [--preset default] [--steps 30] [--threads 1]
       [--set KEY=VALUE …]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import pyro
import torch
from real_data import full_batches, load_or_exit, seeded_elbo

from m2vae_pyro.config import load_config, parse_field
from m2vae_pyro.module.networks import M2VAENetworks
from m2vae_pyro.nn import losses
from m2vae_pyro.train.trainer import optimisers


class Timer:
    """Exclusive wall time per label: a stack of open labels, each charged its own time only."""

    def __init__(self):
        self.totals: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)
        self.stack: list[list] = []  # [label, start, time spent in children]

    def wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            self.stack.append([label, time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                name, start, children = self.stack.pop()
                spent = time.perf_counter() - start
                self.totals[name] += spent - children
                self.calls[name] += 1
                if self.stack:
                    self.stack[-1][2] += spent

        return timed

    def section(self, label: str, fn, *args):
        return self.wrap(label, fn)(*args)


def instrument(nets: M2VAENetworks, timer: Timer) -> None:
    """Wrap every part of the forward (instance attributes and the loss functions the networks call)."""
    for name in ("views", "fuse", "posterior_dist", "prior_dist", "likelihood_dist", "ranking_embedding",
                 "residual_scale", "cold_dist", "view_posterior_dist", "view_prior_dist", "common_dist"):
        setattr(nets, name, timer.wrap(name, getattr(nets, name)))
    nets.decoder.content_mean = timer.wrap("F_c (content path)", nets.decoder.content_mean)
    nets.attr_pool.forward = timer.wrap("views: attribute pooling", nets.attr_pool.forward)
    nets.content_dropout = timer.wrap("views: content dropout", nets.content_dropout)
    if nets.has_image:
        nets.image_proj.forward = timer.wrap("views: image projection", nets.image_proj.forward)
    nets.id_head.forward = timer.wrap("ID view head (Eq. 2)", nets.id_head.forward)
    nets.batch_item_rows = timer.wrap("item-table lookup (BPR warm, Eq. 20 co-items)", nets.batch_item_rows)
    for name, label in (("bpr", "factor: BPR (both)"), ("disentangle", "factor: DCL"),
                        ("cooccurrence_of_rows", "factor: co-occurrence")):
        setattr(losses, name, timer.wrap(label, getattr(losses, name)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--preset", default="default")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    p.add_argument("--no-operators", action="store_true", help="skip the torch.profiler operator table")
    p.add_argument("--shapes", action="store_true", help="the operator table by input shapes (which call costs)")
    p.add_argument("--stack", type=int, default=0, metavar="N",
                   help="the operator table by the N innermost Python frames of each call (where it is called)")
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the operator table (default 20; 30 with --shapes or --stack)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config field, as m2vae's --set (e.g. user_updates=lazy)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    ds = load_or_exit(args.dataset, args.data_dir, images=True, progress=False)
    cfg = load_config(args.dataset, preset=args.preset)
    if args.batch_size:
        cfg = cfg.replace(batch_size=args.batch_size)
    cfg = cfg.replace(**{k: parse_field(k, v) for k, _, v in (pair.partition("=") for pair in args.set)})
    batches = full_batches(ds, cfg)
    nets, elbo = seeded_elbo(ds, cfg)
    lazy = nets.lazy_parameters()
    optims = optimisers(list(elbo.parameters()), lazy, cfg)  # as the trainer builds them

    def optim_step():
        for optim in optims:
            optim.step()
    nets.train()
    pyro.enable_validation(False)  # as in training

    timer = Timer()
    instrument(nets, timer)

    def step(batch):
        views = nets.views(batch.items)
        loss = timer.section("pyro + rest", elbo, batch, views, 1.0)
        for optim in optims:
            optim.zero_grad(set_to_none=True)
        timer.section("backward", loss.backward)
        timer.section("optimiser (fused Adam)" if not lazy else "optimiser (Adam + SparseAdam)", optim_step)

    warmup = 5
    walls = []
    for k in range(warmup + args.steps):
        if k == warmup:
            timer.totals.clear(), timer.calls.clear()
        t0 = time.perf_counter()
        step(batches[k % len(batches)])
        if k >= warmup:
            walls.append(time.perf_counter() - t0)

    total = sum(timer.totals.values())
    print(f"{args.dataset}, preset {cfg.preset}, B = {cfg.batch_size}, d = {cfg.d}, c_p/c_n = {cfg.c_p}/{cfg.c_n}, "
          f"threads {torch.get_num_threads()}, {args.steps} steps after {warmup} warm-up")
    print("| part | ms / step | share | calls / step |")
    print("|---|---|---|---|")
    for label, t in sorted(timer.totals.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {1e3 * t / args.steps:.1f} | {100 * t / total:.1f} % | "
              f"{timer.calls[label] / args.steps:g} |")
    print(f"| **step (median wall)** | {1e3 * statistics.median(walls):.1f} | | |")

    if not args.no_operators:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes, with_stack=args.stack > 0) as prof:
            for k in range(5):
                step(batches[k % len(batches)])
        averages = prof.key_averages(group_by_input_shape=args.shapes, group_by_stack_n=args.stack)
        rows = args.rows or (30 if args.shapes or args.stack else 20)
        print(averages.table(sort_by="self_cpu_time_total", row_limit=rows, max_shapes_column_width=80))
    print(f"step ms: {1e3 * statistics.median(walls):.1f}")


if __name__ == "__main__":
    main()
