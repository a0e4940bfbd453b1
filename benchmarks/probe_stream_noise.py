"""How much the best validation HR@5 of one ML-100K cell moves with the random stream alone (issue 34).

The split is fixed (seed 0's); only the seed of the training noise changes (dropout masks, ID dropout, the guide's
draws, the triple order). A change of code that keeps the estimator but draws its noise differently (issue 34: one
content-dropout mask per distinct item, drawn by ``torch.rand``) can move the cell by this much without any change in
what is estimated. Each run is a full default training run (40 epochs, patience 15), one thread.

Usage: python benchmarks/probe_stream_noise.py [--dataset ml-100k] [--streams 0,1,2] [--data-dir DIR]
Last line: ``validation HR@5 over N streams: mean ± sd``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from real_data import load_or_exit

from m2vae_pyro.config import load_config
from m2vae_pyro.data.split import cold_start_split
from m2vae_pyro.m2vae import M2VAE


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--streams", default="0,1,2")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = load_or_exit(args.dataset, args.data_dir, images=True, progress=False)
    base = load_config(args.dataset).replace(patience=15)
    split = cold_start_split(ds, 0, base.cold_fraction, base.threshold)
    print("| stream | best epoch | validation HR@5 | test HR@5 | seconds |")
    print("|---|---|---|---|---|")
    vals = []
    for stream in (int(s) for s in args.streams.split(",")):
        model = M2VAE(ds, base.replace(seed=stream), split=split)
        t0 = time.perf_counter()
        history = model.fit(progress=False)
        test = model.evaluate("test", ks=(5,))["hr@5"]
        vals.append(history.best_score)
        print(f"| {stream} | {history.best_epoch} | {history.best_score:.4f} | {test:.4f} | "
              f"{time.perf_counter() - t0:.0f} |", flush=True)
    sd = statistics.stdev(vals) if len(vals) > 1 else float("nan")
    print(f"validation HR@5 over {len(vals)} streams: {statistics.mean(vals):.4f} ± {sd:.4f}")


if __name__ == "__main__":
    main()
