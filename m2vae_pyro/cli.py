"""Command line: argument parsing only; every command is a function in the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .data.errors import DataError
from .data.loaders import default_data_dir


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"folder laid out like shared/data (default: $M2VAE_DATA, now {default_data_dir()})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m2vae", description="M²VAE cold-start recommendation in Pyro.")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect datasets and compute content features")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    summary = data_sub.add_parser("summary", help="print counts as 'name: number' lines")
    summary.add_argument("dataset")
    _data_dir(summary)
    summary.set_defaults(func=cmd_data_summary)
    images = data_sub.add_parser("images", help="compute (or reuse) cached poster image features")
    images.add_argument("dataset")
    _data_dir(images)
    images.set_defaults(func=cmd_data_images)
    return parser


def cmd_data_summary(args: argparse.Namespace) -> int:
    from .data.loaders import load_dataset

    ds = load_dataset(args.dataset, args.data_dir)
    for key, value in ds.summary().items():
        print(f"{key}: {value}")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"m2vae: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("m2vae: interrupted", file=sys.stderr)
        return 130
