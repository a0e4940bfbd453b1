"""What one row of Table 3 costs: one training epoch plus one validation pass of M²VAE and every learned baseline.

Each model is built exactly as ``m2vae experiment`` builds its cell (``experiments/models.py::build_model``, same
split, same seeded triples) with a budget of one epoch, and ``fit()`` is timed — the epoch, the validation pass
and any one-off pre-training (the methods on pre-trained CF embeddings fit a BPR-MF first; its share is
printed apart).
Same thread count for every model (``--threads``, default 1). Modules the training loops import lazily
(torch.distributed, tqdm) are imported first: a one-off cost of the process, not of an epoch.

Last line: ``m2vae epoch / ccfcrec epoch: X`` on ML-100K (issue 34: X ≤ 2), after the same ratio on every other
dataset run.

Usage: python benchmarks/bench_epoch.py [--datasets ml-100k,amazon-beauty] [--models m2vae,paper-literal,...]
       [--threads 1] [--set KEY=VALUE …] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.distributed  # noqa: F401  (imported lazily by the training loop: see the docstring)
import tqdm.auto  # noqa: F401
from real_data import table3_cells

from m2vae_pyro.baselines.registry import LEARNED

MODELS = ("m2vae", "paper-literal", *LEARNED)  # every learned row of Table 3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="ml-100k,amazon-beauty")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config field of the M²VAE rows (e.g. view_draws=item), as m2vae's --set")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the first optimiser imports torch._dynamo (~2 s, once)
    print(f"threads: {args.threads}")
    print("| dataset | model | pre-training s | epoch + validation s | total s |")
    print("|---|---|---|---|---|")
    epochs: dict[tuple[str, str], float] = {}
    from m2vae_pyro.config import parse_field

    overrides = {k: parse_field(k, v) for k, _, v in (pair.partition("=") for pair in args.set)}
    for name, model, _, _, rec in table3_cells(args.datasets, args.models, args.data_dir, overrides):
        if rec is not None:
            pre = 0.0
            if hasattr(rec, "prepare"):  # time the baselines' one-off pre-training on its own
                original = rec.prepare

                def timed_prepare(*a, _orig=original, **k):
                    nonlocal pre
                    t = time.perf_counter()
                    _orig(*a, **k)
                    pre = time.perf_counter() - t

                rec.prepare = timed_prepare
            t0 = time.perf_counter()
            rec.fit(progress=False)
            total = time.perf_counter() - t0
            print(f"| {name} | {model} | {pre:.1f} | {total - pre:.1f} | {total:.1f} |", flush=True)
            epochs[name, model] = total - pre
    ratios = {name: epochs[name, "m2vae"] / epochs[name, "ccfcrec"] for name, _ in epochs
              if (name, "m2vae") in epochs and (name, "ccfcrec") in epochs}
    for name in sorted(ratios, key=lambda n: n == "ml-100k"):  # ML-100K's, the figure, last
        print(f"{'' if name == 'ml-100k' else name + ' '}m2vae epoch / ccfcrec epoch: {ratios[name]:.2f}")


if __name__ == "__main__":
    main()
