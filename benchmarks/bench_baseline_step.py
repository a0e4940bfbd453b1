"""What a training step of each learned baseline costs, and the training epoch it implies — without running the
epoch: the cheap way to compare two versions of a baseline's code on the large sets (an Amazon epoch of MVGAE
takes minutes; ``bench_epoch.py`` times whole epochs with their validation pass).

Each model is built as its experiment cell is (``experiments/models.py::build_model``: same split, same seeded
batches, its preset for the dataset's family); after 3 warm-up steps, the median of ``--steps`` steps (loss,
backward, Adam) is multiplied by the number of batches in an epoch. Pyro's argument checks are off, as in
``TrainedBaseline.fit``. One thread (``--threads``).

With ``--epochs E --ceiling H`` each row also projects a cell's core-hours at the epoch cap (training steps only: a
lower bound, validation passes come on top) and says whether issue 31's rule 4 runs it (≤ H core-hours);
``--write-not-run`` adds every model above the ceiling, with its figures, to ``benchmarks/experiments/DATASET/
not_run.json``, which the harness reads (such a model's row then says "not run: projected N core-hours").
Rule 4 runs every model on seed 0 of amazon-beauty whatever its cost: do not write Beauty's file.

Usage: python benchmarks/bench_baseline_step.py [--datasets amazon-beauty] [--models clcrec,mvgae,...]
       [--steps 20] [--threads 1] [--data-dir DIR] [--epochs 80 --ceiling 2 [--write-not-run]]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

import pyro
import torch
from real_data import table3_cells

from m2vae_pyro.baselines.registry import LEARNED
from m2vae_pyro.data.sampling import TripleSampler

WARMUP = 3


def step_seconds(rec, sampler: TripleSampler, steps: int) -> float:
    """Median seconds of ``steps`` training steps of ``rec`` after :data:`WARMUP` steps, on epoch 0's batches."""
    rec.train()
    optim = torch.optim.Adam([p for p in rec.parameters() if p.requires_grad], lr=rec.settings.lr, fused=True)
    times = []
    for k, batch in enumerate(rec.batches(sampler, 0)):
        if k == WARMUP + steps:
            break
        t0 = time.perf_counter()
        loss = rec.loss(batch)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if k >= WARMUP:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="amazon-beauty")
    p.add_argument("--models", default=",".join(LEARNED))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=None, help="project a cell's core-hours at this epoch cap")
    p.add_argument("--ceiling", type=float, default=2.0, help="rule 4's cost ceiling, core-hours a cell")
    p.add_argument("--write-not-run", action="store_true",
                   help="add the models above the ceiling to benchmarks/experiments/DATASET/not_run.json")
    args = p.parse_args()
    if args.write_not_run and args.epochs is None:
        p.error("--write-not-run needs --epochs (the cap the projection is made at)")
    torch.set_num_threads(args.threads)
    pyro.enable_validation(False)
    print(f"threads: {args.threads}, median of {args.steps} steps after {WARMUP}")
    extra = f" core-hours at {args.epochs} epochs | rule 4 (≤ {args.ceiling:g}) |" if args.epochs else ""
    print("| dataset | model | ms per step | steps per epoch | training s per epoch |" + extra)
    print("|---|---|---|---|---|" + ("---|---|" if extra else ""))
    for name, model, ds, split, rec in table3_cells(args.datasets, args.models, args.data_dir):
        if rec is not None:
            s = rec.settings
            sampler = TripleSampler(split, ds.n_users, ds.n_items, s.c_p, s.c_n)
            rec.prepare(sampler, False)
            seconds = step_seconds(rec, sampler, args.steps)
            n = sum(1 for _ in rec.batches(sampler, 1))
            row = f"| {name} | {model} | {seconds * 1e3:.0f} | {n} | {seconds * n:.0f} |"
            if args.epochs:
                hours = seconds * n * args.epochs / 3600
                row += f" {hours:.1f} | {'run' if hours <= args.ceiling else 'not run'} |"
                if args.write_not_run and hours > args.ceiling:
                    why = (f"projected {hours:.1f} core-hours (rule 4: above {args.ceiling:g}; {seconds * 1e3:.0f} ms "
                           f"× {n} steps × {args.epochs} epochs, training steps alone, bench_baseline_step.py "
                           f"{datetime.date.today()})")
                    add_not_run(EXPERIMENTS / name, model, why)
            print(row, flush=True)


EXPERIMENTS = Path(__file__).resolve().parent / "experiments"


def add_not_run(folder: Path, model: str, why: str) -> None:
    """Merge ``{model: why}`` into ``folder/not_run.json`` (the harness's list of models the directory skips)."""
    path = folder / "not_run.json"
    entries = json.loads(path.read_text()) if path.is_file() else {}
    entries[model] = why
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    print(f"  {model} added to {path}", flush=True)

if __name__ == "__main__":
    main()
