"""Per-seed view of an experiment or ablation directory (``m2vae experiment|ablate … --out OUT``).

Prints, for the item-to-user protocol, each model's test HR@5 per seed with its mean, the mean validation HR@5 of the
chosen epochs and the mean seconds per cell; then each model's difference from a reference model on the same seed
(mean ± std over the seeds both have, and on how many seeds it is above / below); last, how test HR@5 goes with the
epoch early stopping chose (over all finished cells: Pearson r, and the mean per band of best epochs) and the seconds
of the cells trained in OUT (cells copied in from another run carry a ``copied_from`` key and are not counted).
Unfinished cells are shown as —, so the script also reads an experiment that is still running.

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


def metric(cell: dict | None, key: str) -> float | None:
    return None if cell is None else cell["test"][PROTOCOL][key]


def validation(cell: dict) -> float | None:
    return cell["info"].get("best_val_hr@5")  # untrained references choose no epoch


def mean_or_dash(values: list[float | None], fmt: str = ".4f") -> str:
    values = [v for v in values if v is not None]
    return format(statistics.mean(values), fmt) if values else "—"


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

    head = " | ".join(f"s{s}" for s in range(args.seeds))
    print(f"| model | {head} | mean | mean val | mean s/cell |\n|---|" + "---|" * (args.seeds + 3))
    for m, row in cells.items():
        hr = [metric(c, "hr@5") for c in row]
        done = [c for c in row if c is not None]
        print(f"| {m} | " + " | ".join("—" if h is None else f"{h:.4f}" for h in hr)
              + f" | {statistics.mean(h for h in hr if h is not None):.4f}"
              + f" | {mean_or_dash([validation(c) for c in done])}"
              + f" | {statistics.mean(c['seconds'] for c in done):.0f} |")

    ref = cells.get(args.reference)
    if ref is not None:
        paired(cells, ref, args.reference)
    epoch_bands(cells)


def paired(cells: dict[str, list[dict | None]], ref: list[dict | None], reference: str) -> None:
    print("\n| model | Δ test HR@5 | seeds above / below | Δ test NDCG@5 | Δ validation HR@5 |\n|---|---|---|---|---|")
    for m, row in cells.items():
        pairs = [(c, r) for c, r in zip(row, ref) if c is not None and r is not None]
        if m == reference or not pairs:
            continue
        dhr = [metric(c, "hr@5") - metric(r, "hr@5") for c, r in pairs]
        dndcg = [metric(c, "ndcg@5") - metric(r, "ndcg@5") for c, r in pairs]
        dval = [validation(c) - validation(r) for c, r in pairs if None not in (validation(c), validation(r))]
        spread = (lambda d: f" ± {statistics.stdev(d):.4f}" if len(d) > 1 else "")
        print(f"| {m} | {statistics.mean(dhr):+.4f}{spread(dhr)} | {sum(d > 1e-9 for d in dhr)} / "
              f"{sum(d < -1e-9 for d in dhr)} | {statistics.mean(dndcg):+.4f}{spread(dndcg)} | "
              f"{mean_or_dash(dval, '+.4f')} |")


def epoch_bands(cells: dict[str, list[dict | None]]) -> None:
    done = [c for row in cells.values() for c in row if c is not None and validation(c) is not None]
    if len(done) < 2:
        return
    epochs = [c["info"]["best_epoch"] for c in done]
    hr = [metric(c, "hr@5") for c in done]
    print(f"\n{len(done)} trained cells: r(best epoch, test HR@5) = {statistics.correlation(epochs, hr):.2f}; "
          f"seconds of cells trained here: {sum(c['seconds'] for c in done if 'copied_from' not in c):,.0f}")
    print("\n| best epoch | cells | mean test HR@5 |\n|---|---|---|")
    for lo, hi in ((0, 5), (6, 10), (11, None)):
        band = [h for e, h in zip(epochs, hr) if e >= lo and (hi is None or e <= hi)]
        if band:
            print(f"| {lo}–{hi if hi is not None else ''} | {len(band)} | {statistics.mean(band):.4f} |")


if __name__ == "__main__":
    main()
