"""Is a trained M²VAE's posterior of new items' embeddings worth analysing? (issue 30, step 1)

For each run directory (``m2vae train … --out RUN``) prints the three questions of
``m2vae_pyro/analysis/calibration.py`` as a table — a. ordering (cold vs warm sd of ``e_new``, sd against
popularity, missing modalities); b. error prediction on the cold test items (Spearman of each item's
noise-to-signal uncertainty with its NDCG@10, bootstrap interval, HR@5 per uncertainty quartile); c. calibration on
pseudo-cold warm items with ≥ 20 training positives (90 % coverage of ``e_i`` including Eq. 24's noise, MSE over
predictive variance, Spearman of sd with error).

The last line is the first run's
``calibration: cold/warm sd A, spearman(uncertainty, ndcg) B, coverage90 C, spearman(sd, error) D``
(issue 30's targets: A ≥ 1.2, B ≤ −0.15 with its interval below 0, C in [0.85, 0.95], D ≥ 0.2).

Usage: python benchmarks/calibration.py RUN [RUN ...] [--samples 50] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from m2vae_pyro.analysis.calibration import calibrate, format_calibration
from m2vae_pyro.runs import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--samples", type=int, default=50, help="posterior draws per item (default 50)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = []
    for run in args.runs:
        t0 = time.perf_counter()
        model = load_run(run, args.data_dir)
        c = calibrate(model, num_samples=args.samples, seed=args.seed)
        cfg = model.config
        print(f"## {run} ({model.ds.name}, preset {cfg.preset}, prior {cfg.prior}, seed {cfg.seed}; "
              f"{time.perf_counter() - t0:.0f} s)\n")
        print(format_calibration(c) + "\n", flush=True)
        lines.append(c.last_line())
    print(lines[0])


if __name__ == "__main__":
    main()
