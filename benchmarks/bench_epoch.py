"""What one row of Table 3 costs: one training epoch plus one validation pass of M²VAE and every learned baseline.

Each model is built exactly as ``m2vae experiment`` builds its cell (``experiments/models.py::build_model``, same
split, same seeded triples) with a budget of one epoch, and ``fit()`` is timed — the epoch, the validation pass
and any one-off pre-training (the methods on pre-trained CF embeddings fit a BPR-MF first; its share is
printed apart).
Same thread count for every model (``--threads``, default 1).

Usage: python benchmarks/bench_epoch.py [--datasets ml-100k,amazon-beauty] [--models m2vae,paper-literal,...]
       [--threads 1] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import torch
from real_data import table3_cells

from m2vae_pyro.baselines.registry import LEARNED

MODELS = ("m2vae", "paper-literal", *LEARNED)  # every learned row of Table 3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="ml-100k,amazon-beauty")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: {args.threads}")
    print("| dataset | model | pre-training s | epoch + validation s | total s |")
    print("|---|---|---|---|---|")
    for name, model, _, _, rec in table3_cells(args.datasets, args.models, args.data_dir):
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


if __name__ == "__main__":
    main()
