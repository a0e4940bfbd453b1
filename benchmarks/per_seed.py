"""Per-seed view of an experiment or ablation directory (``m2vae experiment|ablate … --out OUT``).

Prints, for the item-to-user protocol, each model's test HR@5 per seed with its mean, the mean validation HR@5 of the
chosen epochs and the mean seconds per cell; then each model's difference from a reference model on the same seed
(mean ± std over the seeds both have, and on how many seeds it is above / below). Unfinished cells are shown as —,
so the script also reads an experiment that is still running.

Usage: python benchmarks/per_seed.py OUT [--models a,b,...] [--reference full] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from m2vae_pyro.experiments.harness import cell_path

PROTOCOL = "item-to-user"


def load(out: Path, model: str, seeds: int) -> list[dict | None]:
    paths = [cell_path(out, model, s) for s in range(seeds)]
    return [json.loads(p.read_text()) if p.is_file() else None for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", default=None, help="comma-separated (default: the cells/ folders present)")
    parser.add_argument("--reference", default="full", help="model the paired differences are taken against")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    models = args.models.split(",") if args.models else [
        json.loads(next(d.glob("seed*.json")).read_text())["model"]
        for d in sorted((args.out / "cells").iterdir()) if any(d.glob("seed*.json"))]
    cells = {m: load(args.out, m, args.seeds) for m in models}

    def metric(cell: dict | None, key: str) -> float | None:
        return None if cell is None else cell["test"][PROTOCOL][key]

    head = " | ".join(f"s{s}" for s in range(args.seeds))
    print(f"| model | {head} | mean | mean val | mean s/cell |\n|---|" + "---|" * (args.seeds + 3))
    for m, row in cells.items():
        hr = [metric(c, "hr@5") for c in row]
        done = [c for c in row if c is not None]
        print(f"| {m} | " + " | ".join("—" if h is None else f"{h:.4f}" for h in hr)
              + f" | {statistics.mean(h for h in hr if h is not None):.4f}"
              + f" | {statistics.mean(c['info']['best_val_hr@5'] for c in done):.4f}"
              + f" | {statistics.mean(c['seconds'] for c in done):.0f} |")

    ref = cells.get(args.reference)
    if ref is None:
        return
    print("\n| model | Δ test HR@5 | seeds above / below | Δ test NDCG@5 | Δ validation HR@5 |\n|---|---|---|---|---|")
    for m, row in cells.items():
        pairs = [(c, r) for c, r in zip(row, ref) if c is not None and r is not None]
        if m == args.reference or not pairs:
            continue
        dhr = [metric(c, "hr@5") - metric(r, "hr@5") for c, r in pairs]
        dndcg = [metric(c, "ndcg@5") - metric(r, "ndcg@5") for c, r in pairs]
        dval = [c["info"]["best_val_hr@5"] - r["info"]["best_val_hr@5"] for c, r in pairs]
        spread = (lambda d: f" ± {statistics.stdev(d):.4f}" if len(d) > 1 else "")
        print(f"| {m} | {statistics.mean(dhr):+.4f}{spread(dhr)} | {sum(d > 1e-9 for d in dhr)} / "
              f"{sum(d < -1e-9 for d in dhr)} | {statistics.mean(dndcg):+.4f}{spread(dndcg)} | "
              f"{statistics.mean(dval):+.4f} |")


if __name__ == "__main__":
    main()
