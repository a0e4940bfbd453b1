"""Shared fixtures: the real data folder, fixed seeds, a clean Pyro param store with validation on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("M2VAE_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "ml-100k" / "u.data").is_file():
        pytest.fail(f"real data not found at {DATA_DIR} (set M2VAE_TEST_DATA)")
    return DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Path:
    """Image features go to a per-session cache, never the user's — for every fixture, whatever its scope.

    (A function-scoped setting came too late for module-scoped fixtures, which are set up first: the same-seed
    test's first run read features from the user's cache, computed by another torch build, its second from this
    session's — the cause of its 4th-decimal failures in long-lived checkouts; docs/reliability.md.)
    """
    cache = tmp_path_factory.getbasetemp() / "cache"
    before = os.environ.get("M2VAE_CACHE_DIR")
    os.environ["M2VAE_CACHE_DIR"] = str(cache)
    yield cache
    if before is None:
        os.environ.pop("M2VAE_CACHE_DIR", None)
    else:
        os.environ["M2VAE_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def ml100k_images(data_dir, session_cache):
    """ML-100K with poster features, computed once per test session into the session cache."""
    from m2vae_pyro.data import load_dataset
    from m2vae_pyro.data.images import attach_image_features

    ds = load_dataset("ml-100k", data_dir)
    computed = attach_image_features(ds, cache=session_cache, progress=False)
    return ds, computed


@pytest.fixture(autouse=True)
def _seeded_and_clean(session_cache):
    np.random.seed(0)
    try:
        import pyro
        import torch

        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        pyro.enable_validation(True)
        torch.set_num_threads(min(2, torch.get_num_threads()))
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture(scope="module")
def tiny_split():
    """A 60-user, 40-item synthetic dataset and its seed-0 cold-start split: the baselines' unit tests' data."""
    from m2vae_pyro.data.split import cold_start_split

    from synthetic import tiny_dataset

    ds = tiny_dataset(n_users=60, n_items=40)
    return ds, cold_start_split(ds, 0, threshold=None)


@pytest.fixture
def copy_dataset(tmp_path, data_dir):
    """Copy the files of a dataset into a temporary data folder, to corrupt them there (never in shared/)."""

    def make(*relpaths: str) -> Path:
        root = tmp_path / "data"
        for rel in relpaths:
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data_dir / rel, dst)
        return root

    return make


ML100K_FILES = ("ml-100k/u.data", "ml-100k/u.item", "ml-100k-posters.csv")
