"""Is the same seed the same run? Train ML-100K (default preset) for a few steps in fresh processes, twice per thread
count, and compare the final weights bit for bit (issue 32 item 11: a same-seed test that failed in the 4th
decimal in some environments).

    python benchmarks/probe_determinism.py [--steps 30] [--threads 1 2] [--data-dir ../shared/data]

Prints, per thread count, the largest absolute difference between the two runs' weights (0: bit-identical), and
across thread counts the difference between the first runs and between the poster features of 64 posters. Last
line: ``same seed, same threads: identical`` or
the thread counts where it is not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import sys, torch
from m2vae_pyro.config import load_config
from m2vae_pyro.data import load_dataset
from m2vae_pyro.m2vae import M2VAE
torch.set_num_threads(int(sys.argv[3]))
ds = load_dataset("ml-100k", sys.argv[1], images=True, progress=False)
model = M2VAE(ds, load_config("ml-100k", seed=0))
trainer = model.trainer(progress=False)
trainer.plan.validate = lambda: 0.0  # it stops within the first epoch: no validation is reached
try:
    trainer.run(should_stop=lambda: trainer.step >= int(sys.argv[4]))
except Exception:
    pass
torch.save(model.nets.state_dict(), sys.argv[2])
"""


FEATURES = r"""
import sys, numpy as np, torch
from m2vae_pyro.data import load_dataset
from m2vae_pyro.data.images import compute_features
torch.set_num_threads(int(sys.argv[3]))
mod = load_dataset("ml-100k", sys.argv[1]).modalities["image"]
np.save(sys.argv[2], compute_features([p for p in mod.sources if p is not None][:64], progress=False))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    import torch

    tmp = Path(tempfile.mkdtemp())
    weights = {}
    for t in args.threads:
        for k in range(2):
            path = tmp / f"t{t}-{k}.pt"
            env = os.environ | {"OMP_NUM_THREADS": str(t), "MKL_NUM_THREADS": str(t)}
            subprocess.run([sys.executable, "-c", CHILD, args.data_dir, str(path), str(t), str(args.steps)],
                           check=True, env=env)
            weights[t, k] = torch.load(path)

    def gap(a, b) -> float:
        return max(float((a[n].float() - b[n].float()).abs().max()) for n in a if a[n].is_floating_point())

    print("| comparison | max abs weight difference |")
    print("|---|---|")
    bad = []
    for t in args.threads:
        g = gap(weights[t, 0], weights[t, 1])
        print(f"| {t} thread(s), run 1 vs run 2 | {g:.3g} |")
        if g:
            bad.append(t)
    first = args.threads[0]
    for t in args.threads[1:]:
        print(f"| {first} vs {t} threads | {gap(weights[first, 0], weights[t, 0]):.3g} |")
    import numpy as np

    feats = {}
    for t in args.threads:  # the poster features a run computes (64 ML-100K posters), at each thread count
        path = tmp / f"features-t{t}.npy"
        env = os.environ | {"OMP_NUM_THREADS": str(t), "MKL_NUM_THREADS": str(t)}
        subprocess.run([sys.executable, "-c", FEATURES, args.data_dir, str(path), str(t)], check=True, env=env)
        feats[t] = np.load(path)
    for t in args.threads[1:]:
        print(f"| poster features, {first} vs {t} threads | {float(np.abs(feats[first] - feats[t]).max()):.3g} |")
    print("same seed, same threads: " + ("identical" if not bad else
                                          "differs at " + ", ".join(f"{t} thread(s)" for t in bad)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
