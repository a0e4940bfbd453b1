"""Issue 32 item 12: does training through the one loop (``train/trainer.py``) reproduce the cells of the old loops?

Builds each model's seed-0 cell as ``m2vae experiment`` does (``experiments/models.py::build_model``, the same split
and triples), fits it, and prints its best epoch, best validation HR@5 and test HR@5 (item-to-user); with
``--compare DIR`` beside the committed cells ``DIR/cells/MODEL/seed0.json`` (a full budget: ``--epochs 40
--patience 15`` as the ml-100k table), with ``--save FILE``/``--against FILE`` beside a run of other code (a short
budget is enough: the loops must agree to the last bit). Runs on any commit (it uses ``fit()`` and ``evaluate``).

Last line: ``cells that differ: N of M``.

Usage: python benchmarks/verify_one_loop.py [--models ccfcrec,gorec,...] [--epochs 3] [--patience 15]
       [--compare benchmarks/experiments/ml-100k] [--save FILE | --against FILE] [--threads 1] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from real_data import load_or_exit

MODELS = ("m2vae,ccfcrec,clcrec,pad-clrec,dropoutnet,mtpr,lara,cvar,gar,cvae,mvdgae,mvgae,gorec,aldi,"
          "userpop,content_activity")


def summary(info) -> dict:
    """``fit()``'s result as a cell records it (a History, or the dict the old baseline loop returned)."""
    if isinstance(info, dict):
        return info
    out = {"best_epoch": info.best_epoch}
    if math.isfinite(info.best_score):
        out["best_val_hr@5"] = info.best_score
    return out


def main() -> None:
    from m2vae_pyro.data.split import cold_start_split
    from m2vae_pyro.evaluation.protocols import evaluate
    from m2vae_pyro.experiments.harness import unavailable
    from m2vae_pyro.experiments.models import Spec, build_model, m2vae_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--models", default=MODELS)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--patience", type=int, default=15)
    p.add_argument("--compare", type=Path, default=None)
    p.add_argument("--save", type=Path, default=None)
    p.add_argument("--against", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_or_exit(args.dataset, args.data_dir, images=True, progress=False)
    spec = Spec(args.dataset, epochs=args.epochs, overrides={"patience": args.patience})
    cfg = m2vae_config("m2vae", spec, 0)
    split = cold_start_split(ds, 0, cfg.cold_fraction, cfg.threshold)
    other = json.loads(args.against.read_text()) if args.against else {}
    rows, differ = {}, 0
    print(f"{args.dataset}, seed 0, epochs {args.epochs}, patience {args.patience}")
    print("| model | best epoch | val HR@5 | test HR@5 | seconds | reference: best epoch / val / test | same |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        if unavailable(model):
            continue
        rec = build_model(model, ds, split, 0, spec)
        t0 = time.perf_counter()
        info = summary(rec.fit(progress=False))
        with torch.inference_mode():
            test = evaluate(rec.score_indices, ds, split, "test", (5,), "item-to-user")["hr@5"]
        rows[model] = row = {"best_epoch": info["best_epoch"], "val": info.get("best_val_hr@5"), "test": test,
                             "seconds": time.perf_counter() - t0}
        ref = None
        if args.compare is not None:
            cell = json.loads((args.compare / "cells" / model / "seed0.json").read_text())
            ref = {"best_epoch": cell["info"]["best_epoch"], "val": cell["info"].get("best_val_hr@5"),
                   "test": cell["test"]["item-to-user"]["hr@5"]}
        elif model in other:
            ref = other[model]
        same = "" if ref is None else str(all(ref[k] == row[k] for k in ("best_epoch", "val", "test")))
        differ += same == "False"
        fmt = (lambda v: "—" if v is None else f"{v:.4f}")
        theirs = "" if ref is None else f"{ref['best_epoch']} / {fmt(ref['val'])} / {ref['test']:.4f}"
        print(f"| {model} | {row['best_epoch']} | {fmt(row['val'])} | {row['test']:.4f} | {row['seconds']:.0f} | "
              f"{theirs} | {same} |", flush=True)
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1))
    print(f"cells that differ: {differ} of {len(rows) if (args.compare or other) else 0}")


if __name__ == "__main__":
    main()
