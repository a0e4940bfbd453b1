"""Issue 31's rule 3, "screen, then confirm": rank an experiment's models by their seed-0 *validation* HR@5 (never
test) and print the command that adds seeds 1–2 for M²VAE, the references and the five best others (``--seeds-of``).

    python benchmarks/screen.py benchmarks/experiments/amazon-beauty [--top 5]

Reads the finished seed-0 cells (``cells/MODEL/seed0.json``), so it works while the screen is still running: models
without a seed-0 cell are listed as pending. Last line: ``confirm: MODEL,MODEL,...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ALWAYS = ("m2vae", "ccfcrec", "gorec")  # M²VAE and the references the issue names (CCFCRec, GoRec)
UNTRAINED = ("userpop", "random", "content_activity", "content_activity_v1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    meta_path = args.experiment / "experiment.json"
    if not meta_path.is_file():
        print(f"{meta_path}: not an experiment directory", file=sys.stderr)
        return 2
    meta = json.loads(meta_path.read_text())
    rows = []
    for cell in sorted((args.experiment / "cells").glob("*/seed0.json")):
        record = json.loads(cell.read_text())
        info = record.get("info") or {}
        rows.append((record["model"], info.get("best_val_hr@5"), info.get("best_epoch"), record.get("seconds", 0.0)))
    trained = sorted((r for r in rows if r[0] not in UNTRAINED and r[1] is not None), key=lambda r: -r[1])
    print(f"{meta['dataset']}: seed-0 validation HR@5 of the trained models (epoch cap {meta.get('epochs')})")
    print("| rank | model | validation HR@5 | best epoch | core-s |")
    print("|---|---|---|---|---|")
    for k, (model, val, epoch, seconds) in enumerate(trained, 1):
        print(f"| {k} | {model} | {val:.4f} | {epoch} | {seconds:.0f} |")
    others = [r[0] for r in trained if r[0] not in ALWAYS and r[0] not in ("v2", "paper-literal")]
    chosen = list(dict.fromkeys([m for m in ALWAYS] + others[: args.top] + list(UNTRAINED)))
    print(f"\nseeds 1–2 of: {', '.join(chosen)} (M²VAE and the named references always; the top {args.top} others "
          "by validation)")
    models = list(dict.fromkeys([m for m, *_ in rows] + chosen))  # every screened model keeps its row
    print(f"m2vae experiment {meta['dataset']} --data-dir ../shared/data --seeds 1 --epochs {meta.get('epochs')} "
          f"--set patience=15 --no-checkpoints --models {','.join(models)} "
          + " ".join(f"--seeds-of {m}=3" for m in chosen) + f" --out {args.experiment}")
    print("confirm: " + ",".join(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
