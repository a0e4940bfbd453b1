"""The synthetic generator: planted structure, files that load by name, a model that trains on them."""

from __future__ import annotations

import numpy as np
import pytest

from m2vae_pyro.cli import main
from m2vae_pyro.data import load_dataset
from m2vae_pyro.data.errors import DataError
from m2vae_pyro.data.synthetic import generate, load_preferences


def test_generate_has_planted_preferences_and_both_modalities():
    ds, prefers_image = generate(n_users=60, n_items=80, per_user=10, seed=3)
    assert ds.n_users == 60 and ds.n_items == 80 and ds.n_interactions == 600
    assert 0.3 < prefers_image.mean() < 0.7
    assert ds.modalities["image"].features.shape == (80, 64)
    assert (np.diff(ds.attr_indptr) >= 1).all()
    again, _ = generate(n_users=60, n_items=80, per_user=10, seed=3)
    assert np.array_equal(again.items, ds.items)  # seeded


def test_users_follow_their_planted_view():
    """Items a user picked share more of the user's preferred view than of the other one (the signal exists)."""
    ds, prefers_image = generate(n_users=200, n_items=300, per_user=20, seed=0)
    attrs = ds.attribute_matrix()
    img = ds.modalities["image"].features
    img = (img - img.mean(0)) / img.std(0)
    attr_spread, img_spread = [], []
    for u in range(ds.n_users):
        picked = ds.items[ds.users == u]
        attr_spread.append(attrs[picked].mean(0).max())  # concentrated on a few attributes?
        img_spread.append(np.linalg.norm(img[picked].mean(0)))  # consistent image direction?
    attr_spread, img_spread = np.array(attr_spread), np.array(img_spread)
    assert attr_spread[~prefers_image].mean() > attr_spread[prefers_image].mean()
    assert img_spread[prefers_image].mean() > img_spread[~prefers_image].mean()


def test_cli_writes_a_dataset_that_loads_and_trains(tmp_path):
    assert main(["data", "synth", "tiny", "--out", str(tmp_path), "--users", "50", "--items", "60",
                 "--per-user", "8"]) == 0
    ds = load_dataset("synth-tiny", tmp_path, images=True)
    users, prefers = load_preferences(tmp_path, "synth-tiny")
    assert ds.n_items == 60 and len(users) == 50 and prefers.dtype == bool
    assert main(["data", "synth", "tiny", "--out", str(tmp_path)]) == 2  # never overwritten without --force
    run = tmp_path / "run"
    assert main(["train", "synth-tiny", "--data-dir", str(tmp_path), "--out", str(run), "--epochs", "1",
                 "--set", "d=16", "--set", "decoder_hidden=16", "--set", "c_p=2", "--set", "c_n=4",
                 "--set", "threshold=null"]) == 0
    assert (run / "checkpoint.pt").is_file()


def test_bad_synthetic_file_is_named(tmp_path):
    assert main(["data", "synth", "x", "--out", str(tmp_path), "--users", "20", "--items", "30",
                 "--per-user", "5"]) == 0
    path = tmp_path / "synth-x" / "interactions.csv"
    path.write_text(path.read_text() + "7,999\n")
    with pytest.raises(DataError, match="interactions.csv line"):
        load_dataset("synth-x", tmp_path)


def test_generate_rejects_impossible_sizes():
    with pytest.raises(DataError, match="per_user"):
        generate(n_users=10, n_items=5, per_user=5)
