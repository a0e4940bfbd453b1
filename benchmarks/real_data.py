"""Where the benchmarks on real data find it, and how they report that they cannot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from m2vae_pyro.data.errors import DataError
from m2vae_pyro.data.loaders import load_dataset

# The checkout sits beside shared/ (README, tests); $M2VAE_DATA or --data-dir point elsewhere.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def default_data_dir() -> Path:
    return Path(os.environ["M2VAE_DATA"]) if "M2VAE_DATA" in os.environ else SHARED_DATA


def load_or_exit(name: str, data_dir: str | Path | None, **kwargs):
    """``load_dataset``, or one line naming the missing file and exit code 2 (no traceback)."""
    try:
        return load_dataset(name, Path(data_dir) if data_dir else default_data_dir(), **kwargs)
    except DataError as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: error: {exc}")
