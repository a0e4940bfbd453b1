"""Command line: argument parsing only; every command is a function in the library."""

from __future__ import annotations

import argparse
import sys
import warnings
from functools import partial
from pathlib import Path

from .config import VARIANTS
from .data.errors import DataError
from .data.loaders import default_data_dir
from .train.errors import Interrupted, TrainingError


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"folder laid out like shared/data (default: $M2VAE_DATA, now {default_data_dir()})")


def _preset(parser: argparse.ArgumentParser) -> None:
    from .config import PRESET_NAMES

    parser.add_argument("--preset", default=None, choices=list(PRESET_NAMES),
                        help="formulation preset: default (version 3: a calibrated posterior for new items), v2 "
                             "(version 2) or paper-literal (version 1, the printed equations); a --set or TOML value "
                             "still overrides it")


def _overrides(args: argparse.Namespace) -> dict:
    """``--set`` pairs, with ``--preset`` as the ``preset`` field."""
    sets = _parse_sets(args.set)
    if args.preset is not None:
        sets["preset"] = args.preset
    return sets


def _with_flags(sets: dict, **flags) -> dict:
    """``--set`` pairs plus the command's own flags (``--seed``, ``--epochs``, ``--prior``) that were given; the same
    field given both ways with two values is refused, never silently resolved."""
    out = dict(sets)
    for name, value in flags.items():
        if value is None:
            continue
        if name in out and out[name] != value:
            raise DataError(None, f"--{name} {value} and --set {name}={out[name]} disagree; give one")
        out[name] = value
    return out


def _device_arg(parser: argparse.ArgumentParser, resume: bool = False, cells: bool = False) -> None:
    more = "; with --resume, the run's own device unless given" if resume else (
        "; the M²VAE cells run there, the baselines on the CPU" if cells else "")
    parser.add_argument("--device", default=None, help=f"cpu (default) or cuda[:N]{more}")


def _item_choice(parser: argparse.ArgumentParser) -> None:
    items = parser.add_mutually_exclusive_group()
    items.add_argument("--items", default=None, metavar="ID,ID,...", help="these items (raw ids; any item)")
    items.add_argument("--items-file", type=Path, default=None,
                       help="items: one raw id per line, or a CSV laid out like items.csv (item, attributes, …) "
                            "whose items the run has not seen are scored from the file's content")
    items.add_argument("--role", default=None, choices=["validation", "test"],
                       help="the cold items of one role (default: every cold item)")
    images = parser.add_argument_group("images of the new items of --items-file (as the run's dataset has them)")
    images.add_argument("--images", type=Path, default=None, metavar="DIR", help="a folder of ITEM.jpg/.jpeg/.png")
    images.add_argument("--image-features", type=Path, default=None, metavar="F.npy",
                        help="precomputed EfficientNet-Lite0 features [n, 1280], with --image-items")
    images.add_argument("--image-items", type=Path, default=None, metavar="F.csv",
                        help="the item id of each row of --image-features (a CSV with an 'item' column)")
    parser.add_argument("--allow-empty", action="store_true",
                        help="score a new item with no known attribute and no image as the model scores a training "
                             "item without content (default: refuse it)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .module.priors import PRIORS

    parser = argparse.ArgumentParser(prog="m2vae", description="M²VAE cold-start recommendation in Pyro.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    listing = sub.add_parser("list", help="models, datasets found, presets, priors and variants, one line each")
    _data_dir(listing)
    listing.set_defaults(func=cmd_list)

    data = sub.add_parser("data", help="inspect datasets and compute content features")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    summary = data_sub.add_parser("summary", help="print counts as 'name: number' lines")
    summary.add_argument("dataset", help="a built-in name (m2vae list shows those found) or the path of a data folder")
    _data_dir(summary)
    summary.set_defaults(func=cmd_data_summary)
    check = data_sub.add_parser("check", help="validate a folder in the generic format and print its summary")
    check.add_argument("folder", type=Path, help="folder with interactions.csv and items.csv (README: your own data)")
    check.set_defaults(func=cmd_data_check)
    images = data_sub.add_parser("images", help="compute (or reuse) cached poster image features")
    images.add_argument("dataset", help="a built-in name (m2vae list shows those found) or the path of a data folder")
    _data_dir(images)
    images.set_defaults(func=cmd_data_images)

    synth = data_sub.add_parser("synth", help="write a synthetic dataset with planted modality preferences")
    synth.add_argument("name", help="dataset name; written to DIR/synth-NAME (load it as synth-NAME)")
    synth.add_argument("--out", type=Path, required=True, help="data folder to write into")
    for arg, default in (("users", 500), ("items", 800), ("attributes", 40), ("image-dim", 64), ("factors", 8),
                         ("per-user", 30), ("seed", 0)):
        synth.add_argument(f"--{arg}", type=int, default=default, help=f"default {default}")
    synth.add_argument("--force", action="store_true", help="overwrite an existing synthetic dataset")
    synth.set_defaults(func=cmd_data_synth)

    train = sub.add_parser("train", help="train M²VAE by SVI and write a run directory")
    train.add_argument("dataset", nargs="?", help="dataset name (not with --resume)")
    _data_dir(train)
    train.add_argument("--out", type=Path, help="run directory (must be new or empty)")
    train.add_argument("--resume", type=Path, metavar="RUN", help="continue an interrupted run exactly")
    train.add_argument("--seed", type=int, default=None,
                       help="seed of the cold-start split, the initial weights and the sampled triples (default 0)")
    train.add_argument("--epochs", type=int, default=None,
                       help="maximum epochs; training stops earlier when validation HR@5 stops improving "
                            "(patience) (default: the preset's, 40)")
    train.add_argument("--variant", default=None, choices=list(VARIANTS), help="Table-4 variant (default full)")
    train.add_argument("--prior", default=None, choices=list(PRIORS),
                       help="the prior over z (default: the preset's; m2vae list describes each)")
    _preset(train)
    train.add_argument("--config", type=Path, default=None, help="TOML file of Config fields")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override any Config field, e.g. --set lr=3e-4 (repeatable)")
    train.add_argument("--force", action="store_true", help="overwrite a non-empty run directory")
    _device_arg(train, resume=True)
    train.add_argument("--distributed", action="store_true",
                       help="data-parallel SVI under torchrun (gloo on CPU): torchrun --nproc_per_node=N "
                            "-m m2vae_pyro train ... --distributed")
    train.set_defaults(func=cmd_train)

    for name, helptext in (("experiment", "M²VAE against the baselines over seeds (Table 3 analogue)"),
                           ("ablate", "the Table-4 variants of M²VAE over seeds (Table 4 analogue)")):
        exp = sub.add_parser(name, help=helptext)
        exp.add_argument("dataset", help="a built-in name (m2vae list shows those found) or the path of a data folder")
        _data_dir(exp)
        exp.add_argument("--out", type=Path, required=True, help="experiment directory (resumed when it exists)")
        exp.add_argument("--models", default=None,
                         help="comma-separated model names (default: "
                              + ("m2vae, the 13 baselines of the paper's Table 3, ALDI and the four references"
                                 if name == "experiment" else "all variants")
                              + "); variants, prior:NAME and baselines mix freely")
        exp.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
        exp.add_argument("--seeds-of", action="append", default=[], metavar="MODEL=N",
                         help="another seed count for one model (repeatable): e.g. --seeds 1 --seeds-of m2vae=3, a "
                              "screen on seed 0 and three seeds for the models confirmed")
        exp.add_argument("--epochs", type=int, default=None, help="maximum epochs for every model")
        _preset(exp)
        exp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a Config field of the M²VAE cells (repeatable)")
        exp.add_argument("--force", action="store_true", help="discard the cells of a different experiment in --out")
        exp.add_argument("--force-stale", action="store_true",
                         help="recompute the finished cells that other code computed (a different source hash)")
        exp.add_argument("--resume-other-code", action="store_true",
                         help="resume a cell in progress from a state that other code wrote (a different source "
                              "hash; the cell records it) instead of starting it again")
        _device_arg(exp, cells=True)
        exp.add_argument("--no-checkpoints", action="store_true",
                         help="do not keep the M²VAE cells' best states (cells/MODEL/seedK.pt, for predict/export)")
        exp.set_defaults(func=cmd_experiment, kind=name)

    config = sub.add_parser("config", help="the resolved configuration and where each value comes from")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="every Config field, its value and its source")
    show.add_argument("dataset", nargs="?", default=None, help="dataset name (its paper and tuned values apply)")
    show.add_argument("--variant", default=None, choices=list(VARIANTS), help="Table-4 variant (default full)")
    _preset(show)
    show.add_argument("--config", type=Path, default=None, help="TOML file of Config fields")
    show.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field (repeatable)")
    show.add_argument("--toml", action="store_true",
                      help="print a commented TOML file instead, to edit and pass back with --config")
    show.set_defaults(func=cmd_config_show)

    tune = sub.add_parser("tune", help="grid search of M²VAE's or a baseline's settings on validation cold items only")
    tune.add_argument("dataset", help="a built-in name (m2vae list shows those found) or the path of a data folder")
    _data_dir(tune)
    tune.add_argument("--out", type=Path, required=True, help="search directory (resumed when it exists)")
    tune.add_argument("--model", default="m2vae",
                      help="m2vae (default) or a learned baseline, searched over its own grid unless --grid is given")
    tune.add_argument("--grid", action="append", default=None, metavar="KEY=V1,V2,...",
                      help="a Config field (a baseline: one of its hyperparameters) and its values (repeatable; "
                           "every combination is trained); required for m2vae")
    tune.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 (default 2)")
    tune.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    _preset(tune)
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="a Config field fixed for every point (repeatable)")
    tune.add_argument("--force", action="store_true", help="discard the cells of a different search in --out")
    tune.add_argument("--force-stale", action="store_true",
                      help="recompute the finished cells that other code computed (a different source hash)")
    _device_arg(tune)
    tune.set_defaults(func=cmd_tune)

    analyze = sub.add_parser("analyze", help="posterior uncertainty of item embeddings (netCDF, CSV, plots)")
    analyze.add_argument("run", type=Path, help="a run directory of m2vae train")
    _data_dir(analyze)
    analyze.add_argument("--samples", type=int, default=100, help="posterior draws per item (default 100)")
    analyze.add_argument("--warm-items", type=int, default=300, help="warm items drawn for the analysis")
    analyze.add_argument("--compare", type=Path, default=None, help="a second run (e.g. w/o-dcl) for the Fig. 4 panel")
    analyze.add_argument("--seed", type=int, default=0, help="seed of the warm-item draw and the posterior draws")
    analyze.add_argument("--user", default=None, metavar="ID",
                         help="the reference user whose gates generate the draws (default: the most active one)")
    analyze.add_argument("--force", action="store_true", help="replace an existing RUN/analysis/")
    _device_arg(analyze)
    analyze.set_defaults(func=cmd_analyze)

    predict = sub.add_parser("predict", help="the top-k users for new (cold) items, with raw ids, as CSV")
    predict.add_argument("run", type=Path, help="a run directory of m2vae train, or an experiment cell's "
                                                "checkpoint EXP/cells/MODEL/seedK.pt")
    _data_dir(predict)
    _item_choice(predict)
    predict.add_argument("--k", type=int, default=20, help="users per item (default 20)")
    predict.add_argument("--users", default=None, metavar="ID,ID,...", help="rank only these users (raw ids)")
    predict.add_argument("--include-known", action="store_true",
                         help="keep the users a warm item is already a training positive of")
    predict.add_argument("--samples", type=int, default=0, metavar="S",
                         help="add the posterior mean and sd of each score and the probability that the user is in "
                              "the item's top --k under the posterior, from S draws per (item, user) (default 0: off)")
    predict.add_argument("--out", type=Path, required=True, help="CSV to write: item,rank,user,score")
    predict.add_argument("--force", action="store_true", help="replace an existing --out file")
    _device_arg(predict)
    predict.set_defaults(func=cmd_predict)

    export = sub.add_parser("export", help="user embeddings and the items' generated embeddings (npz)")
    export.add_argument("run", type=Path, help="a run directory of m2vae train, or EXP/cells/MODEL/seedK.pt")
    _data_dir(export)
    _item_choice(export)
    export.add_argument("--users", default=None, metavar="ID,ID,...", help="only these users (raw ids)")
    export.add_argument("--samples", type=int, default=0, help="posterior draws per item to add (default 0)")
    export.add_argument("--out", type=Path, required=True, help="npz file to write")
    export.add_argument("--force", action="store_true", help="replace an existing --out file")
    _device_arg(export)
    export.set_defaults(func=cmd_export)

    evaluate = sub.add_parser("evaluate", help="metrics of a run on validation and test cold items")
    evaluate.add_argument("run", type=Path, help="a run directory of m2vae train")
    _data_dir(evaluate)
    evaluate.add_argument("--split", default="both", choices=["validation", "test", "both"],
                          help="which cold items to print (default both; metrics.json always has both)")
    evaluate.add_argument("--out", type=Path, default=None, help="also write the printed tables to this file")
    evaluate.add_argument("--force", action="store_true", help="replace an existing --out file")
    _device_arg(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def _parse_sets(pairs: list[str]) -> dict:
    from .config import parse_field

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(None, f"--set {pair!r}: expected KEY=VALUE with KEY a Config field")
        out[key] = parse_field(key, value)
    return out


def cmd_config_show(args: argparse.Namespace) -> int:
    from .config import format_config, format_toml, resolve_config
    from .data.loaders import dataset_family

    if args.dataset is not None:
        dataset_family(args.dataset, strict=True)  # an unknown name is refused, not shown with guessed presets
    cfg, sources = resolve_config(args.dataset, args.config, args.variant, **_overrides(args))
    if args.toml:
        print(format_toml(cfg, sources, "m2vae " + " ".join(sys.argv[1:])), end="")
    else:
        print(format_config(cfg, sources))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .catalog import catalog

    print(catalog(args.data_dir))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .runs import resume_run, train_run

    if args.resume is not None:
        if args.dataset or args.out:
            raise DataError(args.resume, "--resume takes the run directory only (its config and split are reused)")
        model = resume_run(args.resume, args.data_dir, device=_device(args.device) if args.device else None)
        _report_trained(model, args.resume)
        return 0
    if not args.dataset or not args.out:
        raise DataError(None, "train needs DATASET and --out RUN (or --resume RUN)")
    cfg = load_config(args.dataset, args.config, args.variant,
                      **_with_flags(_overrides(args), seed=args.seed, epochs=args.epochs, prior=args.prior,
                                    device=args.device))
    device = _device(cfg.device)  # --device, --set device=… or the config file's, checked against this machine
    if args.distributed:
        return _train_distributed(args, cfg, device)
    model = train_run(args.dataset, args.data_dir, args.out, cfg, force=args.force, device=device,
                      announce=partial(_print_config, cfg, args))
    _report_trained(model, args.out)
    return 0


def _print_config(cfg, args: argparse.Namespace) -> None:
    """The resolved config at the start of a run, compactly (sources: ``m2vae config show``)."""
    import textwrap

    from .config import shown_values

    text = " ".join(f"{k}={v}" for k, v in shown_values(cfg).items())
    print(textwrap.fill(text, 116, initial_indent="config: ", subsequent_indent="  ", break_on_hyphens=False))
    print(f"  (where each value comes from: m2vae config show {args.dataset} ...)")


def _device(name: str | None) -> str:
    import torch

    if name is None or name == "cpu":
        return "cpu"
    if not name.startswith("cuda"):
        raise DataError(None, f"--device {name!r}: choose cpu or cuda[:N]")
    if not torch.cuda.is_available():
        raise DataError(None, f"--device {name}: no CUDA device is available to this torch build")
    return name


def _cells_device(args: argparse.Namespace) -> str:
    """Where an experiment's or a search's M²VAE cells train: ``--device`` or ``--set device=…`` (refused when the
    two disagree, checked against this machine); the baselines train on the CPU."""
    return _device(_with_flags(_overrides(args) or {}, device=args.device).get("device"))


def _train_distributed(args: argparse.Namespace, cfg, device: str) -> int:
    import os

    import torch.distributed as dist

    from .runs import is_main_process, train_run

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise DataError(None, "--distributed needs the torchrun environment: "
                              "torchrun --nproc_per_node=N -m m2vae_pyro train ... --distributed")
    if device.startswith("cuda"):  # one GPU per rank, NCCL between them
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        import torch

        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    try:
        model = train_run(args.dataset, args.data_dir, args.out, cfg, force=args.force,
                          progress=is_main_process(), device=device, announce=partial(_print_config, cfg, args))
        if is_main_process():
            _report_trained(model, args.out)
    finally:
        dist.destroy_process_group()
    return 0


def _report_trained(model, run: Path) -> None:
    print(f"best validation hr@5: {model.history.best_score:.4f} (epoch {model.history.best_epoch})")
    print(f"run written to {run}; next: m2vae evaluate {run}")


def _requested(args: argparse.Namespace, model):
    """(item indices, user indices or None) of a predict/export command."""
    from .predict import is_items_table, read_id_file, request_new_items, select_items

    images = {"images": args.images, "image_features": args.image_features, "image_items": args.image_items}
    table = args.items_file is not None and args.items_file.is_file() and is_items_table(args.items_file)
    if any(v is not None for v in images.values()) and not table:
        raise DataError(None, "--images, --image-features and --image-items go with an --items-file laid out like "
                              "items.csv (item,attributes,…)")
    if table:
        ids = request_new_items(model, args.items_file, **images, allow_empty=args.allow_empty)
    else:
        ids = _id_list(args.items) if args.items else read_id_file(args.items_file) if args.items_file else None
    items = select_items(model, ids, args.role, args.items_file)
    users = model.ds.user_index(list(dict.fromkeys(_id_list(args.users)))) if args.users else None  # once each
    return items, users


def _id_list(text: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise DataError(None, f"expected a comma-separated list of ids, got {text!r}")
    return ids


def _model_and_request(args: argparse.Namespace):
    """The run's model and the (items, users) a predict/export command asks for — after checking that ``--out``
    may be written, so that nothing is computed for a file that would be refused."""
    from .predict import refuse_overwrite
    from .runs import load_run

    refuse_overwrite(args.out, args.force)
    model = load_run(args.run, args.data_dir, _device(args.device))
    return (model, *_requested(args, model))


def cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from .evaluation.protocols import candidate_users
    from .predict import posterior_top_users, predictions_frame, top_users, write_csv

    if args.k < 1:
        raise DataError(None, f"--k must be ≥ 1, got {args.k}")
    if args.samples < 0 or args.samples == 1:
        raise DataError(None, f"--samples must be 0 (off) or ≥ 2, got {args.samples}")
    model, items, users = _model_and_request(args)
    with torch.inference_mode():
        top, scores = top_users(model, items, args.k, users, exclude_known=not args.include_known)
    posterior = None
    if args.samples:
        cand = candidate_users(model.split) if users is None else users
        posterior = posterior_top_users(model, items, cand, top, args.samples, args.k, not args.include_known)
    frame = predictions_frame(model, items, top, scores, posterior)
    write_csv(frame, args.out, args.force)
    print(f"top-{args.k} users of {len(items)} items written to {args.out} ({len(frame)} rows: "
          + ",".join(frame.columns) + ")")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .predict import export_embeddings, write_npz

    if args.samples < 0:
        raise DataError(None, f"--samples must be ≥ 0, got {args.samples}")
    model, items, users = _model_and_request(args)
    arrays = export_embeddings(model, items, users, args.samples)
    write_npz(arrays, args.out, args.force)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {list(v.shape)}" for k, v in arrays.items()))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .predict import refuse_overwrite
    from .runs import evaluate_run

    if args.out is not None:
        refuse_overwrite(args.out, args.force)
    metrics = evaluate_run(args.run, args.data_dir, _device(args.device))
    keys = [k for k in metrics["test"] if not k.startswith("n_")]
    text = []
    for role in ("validation", "test") if args.split == "both" else (args.split,):
        rows = {"m2vae": metrics[role]} | {k: v[role] for k, v in metrics["baselines"].items()}
        text += [f"{role} cold items (item-to-user):", "| model | " + " | ".join(keys) + " |",
                 "|---|" + "---|" * len(keys)]
        text += [f"| {name} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |" for name, row in rows.items()]
        text.append("")
    print("\n".join(text).rstrip())
    if args.out is not None:
        from .atomic import atomic_write

        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, lambda tmp: tmp.write_text("\n".join(text)))
        print(f"table written to {args.out}")
    import os

    if os.access(args.run, os.W_OK):
        print(f"metrics written to {args.run / 'metrics.json'}")
    return 0


def _run_and_show(run, out: Path, csv: str, table: str) -> int:
    """Run an experiment-like command and print its table — or, when other processes sharing ``out`` still hold
    cells, say so (they will write the table)."""
    from .experiments.cells import CellsPending

    try:
        result = run()
    except CellsPending as exc:
        print(f"this process is done: {exc}")
        return 0
    if why := getattr(result, "attrs", {}).get("not_written"):
        print(result.attrs["table"])
        print(why)
        return 0
    print((out / table).read_text())
    print(f"results written to {out / csv} and {out / table}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from .experiments import ABLATIONS, DEFAULT_MODELS, run_experiment

    default = DEFAULT_MODELS if args.kind == "experiment" else ABLATIONS
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else list(default)
    return _run_and_show(lambda: run_experiment(
        args.dataset, args.data_dir, args.out, models, args.seeds, args.epochs, _overrides(args) or None,
        highlight="m2vae" if args.kind == "experiment" else "full", force=args.force, device=_cells_device(args),
        checkpoints=not args.no_checkpoints, force_stale=args.force_stale, seeds_of=_seeds_of(args.seeds_of),
        resume_other_code=args.resume_other_code),
        args.out, "results.csv", "table.md")


def _seeds_of(pairs: list[str]) -> dict[str, int]:
    out = {}
    for pair in pairs:
        model, sep, n = pair.rpartition("=")
        if not sep or not model or not n.strip().isdigit():
            raise DataError(None, f"--seeds-of {pair!r}: expected MODEL=N with N a whole number")
        out[model.strip()] = int(n)
    return out


def _parse_grid(pairs: list[str] | None, model: str = "m2vae") -> dict | None:
    """``--grid`` pairs; ``None`` when none are given (a baseline's own grid). A baseline's values are JSON
    scalars or bare words; its keys are checked against its hyperparameters by the tuner."""
    import json

    from .config import parse_field

    if not pairs:
        return None
    grid = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        if not sep or not values or not key:
            raise DataError(None, f"--grid {pair!r}: expected KEY=V1,V2,... with KEY a "
                                  + ("Config field" if model == "m2vae" else f"hyperparameter of {model}"))
        if model != "m2vae":
            def scalar(text: str):
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    return text
            grid[key] = [scalar(v.strip()) for v in values.split(",")]
            continue
        # a list field's points are separated by ';' (ks=5,10;10,20), every other field's by ','
        points = values.split(";") if key == "ks" else values.split(",")
        grid[key] = [parse_field(key, v.strip(), f"--grid {pair!r}") for v in points]
    return grid


def cmd_tune(args: argparse.Namespace) -> int:
    from .experiments.tune import run_tune

    return _run_and_show(lambda: run_tune(
        args.dataset, args.data_dir, args.out, _parse_grid(args.grid, args.model), args.seeds, args.epochs,
        _overrides(args) or None, force=args.force, device=_cells_device(args), model=args.model,
        force_stale=args.force_stale),
        args.out, "tune.csv", "tune.md")


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis.uncertainty import analyze_run

    if args.samples < 2:
        raise DataError(None, f"--samples must be ≥ 2, got {args.samples}")
    result = analyze_run(args.run, args.samples, args.warm_items, compare=args.compare, data_dir=args.data_dir,
                         seed=args.seed, device=_device(args.device), user_id=args.user, force=args.force)
    print(f"posterior draws written to {result['netcdf']} ({result['seconds']:.1f} s); "
          f"report: {args.run / 'analysis' / 'report.md'}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .data import synthetic

    name = args.name if args.name.startswith("synth-") else f"synth-{args.name}"
    folder = args.out / name
    if folder.exists() and any(folder.iterdir()) and not args.force:
        raise DataError(folder, "exists and is not empty; choose another name or pass --force")
    ds, prefers_image = synthetic.generate(args.users, args.items, args.attributes, args.image_dim, args.factors,
                                           args.per_user, args.seed, name)
    synthetic.write(ds, prefers_image, folder)
    print(f"wrote {folder}: {ds.n_users} users ({int(prefers_image.sum())} prefer the image view), "
          f"{ds.n_items} items, {ds.n_interactions} interactions; train with: m2vae train {name} --data-dir {args.out}")
    return 0


def cmd_data_summary(args: argparse.Namespace) -> int:
    from .data.loaders import load_dataset

    ds = load_dataset(args.dataset, args.data_dir)
    for key, value in ds.summary().items():
        print(f"{key}: {value}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    import numpy as np

    from .data.dataset import warn_items_without_content
    from .data.folder import REQUIRED, load_folder

    if not args.folder.is_dir():
        raise DataError(args.folder, "not a folder")
    missing = [f for f in REQUIRED if not (args.folder / f).is_file()]
    if missing:
        raise DataError(args.folder / missing[0], "file not found (the format needs interactions.csv and items.csv)")
    ds = load_folder(args.folder)
    if not ds.positive_mask().any():
        from .data.split import no_positives_message

        raise DataError(args.folder / "interactions.csv", no_positives_message(ds, ds.positive_threshold))
    for key, value in ds.summary().items():
        print(f"{key}: {value}")
    print(f"family: {ds.family} (its presets; declare it in {args.folder / 'dataset.toml'} as family = \"…\")")
    warn_items_without_content(ds)
    image = ds.modalities.get("image")
    print("images: " + ("none" if image is None else "precomputed features" if image.features is not None
                        else "image files (features are computed at the first train, then cached)"))
    unused = int(np.setdiff1d(np.arange(ds.n_items), ds.items).size)
    print(f"items without an interaction (new items to score): {unused}")
    print(f"ok: train with m2vae train {args.folder} --out RUN")
    return 0


def cmd_data_images(args: argparse.Namespace) -> int:
    from .data.images import attach_image_features
    from .data.loaders import load_dataset

    ds = load_dataset(args.dataset, args.data_dir)
    if "image" not in ds.modalities:
        raise DataError(ds.root / args.dataset if ds.root else None, f"{args.dataset} has no image modality")
    computed = attach_image_features(ds)
    mod = ds.modalities["image"]
    print(f"items with image: {mod.coverage}")
    print(f"feature dim: {mod.features.shape[1]}")
    print(f"cache: {'computed' if computed else 'reused'}")
    return 0


def _show_warning(fallback, message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    # The package's own warnings are advice to the user of the command, not a report about a source line.
    if str(filename).startswith(str(Path(__file__).parent)):
        print(f"m2vae: warning: {message}", file=sys.stderr if file is None else file)
    else:
        fallback(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    from .provenance import set_command

    parser = build_parser()
    args = parser.parse_args(argv)
    set_command(sys.argv if argv is None else ["m2vae", *argv])
    try:
        with warnings.catch_warnings():
            warnings.showwarning = partial(_show_warning, warnings.showwarning)
            # the package's advice is printed, once per place, whatever filter the caller set (pytest: "error")
            warnings.filterwarnings("default", category=UserWarning, module=r"m2vae_pyro\.")
            return args.func(args)
    except DataError as exc:
        print(f"m2vae: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `m2vae config show | head`: the reader left, which is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.filename is None or exc.strerror is None:
            raise
        # a place the command cannot write (read-only, /proc, a file where a folder goes): one line, no traceback
        print(f"m2vae: error: {exc.filename}: {exc.strerror.lower()}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"m2vae: {exc}", file=sys.stderr)
        return 130
    except TrainingError as exc:
        print(f"m2vae: error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("m2vae: interrupted", file=sys.stderr)
        return 130
