"""Every loader against the real files in ../shared/data."""

import numpy as np
import pytest

from m2vae_pyro.data import load_dataset
from m2vae_pyro.data.movielens import ML100K_GENRES


def test_ml100k_counts_and_latin1(data_dir):
    ds = load_dataset("ml-100k", data_dir)
    assert (ds.n_users, ds.n_items, ds.n_interactions, ds.n_attributes) == (943, 1682, 100000, 19)
    assert ds.attribute_names == ML100K_GENRES
    assert set(np.unique(ds.ratings)) == {1, 2, 3, 4, 5}
    assert int(ds.positive_mask().sum()) == int((ds.ratings >= 4).sum())
    # Toy Story (item 1): Animation, Children's, Comedy.
    toy = np.searchsorted(ds.item_ids, 1)
    assert [ds.attribute_names[a] for a in ds.item_attributes(toy)] == ["Animation", "Children's", "Comedy"]
    # ids map back: the first line of u.data is user 196 rating item 242 with 3 stars.
    assert (ds.user_ids[ds.users[0]], ds.item_ids[ds.items[0]], ds.ratings[0]) == (196, 242, 3)


def test_ml100k_posters_join(data_dir):
    ds = load_dataset("ml-100k", data_dir)
    img = ds.modalities["image"]
    assert img.coverage == 1668  # 1,671 matched, 3 of them map to ML-1M ids without an image
    by_id = dict(zip(ds.item_ids.tolist(), img.sources))
    assert by_id[2].name == "10.jpg"  # GoldenEye: ML-100K 2 → ML-1M 10
    assert by_id[267] is None and by_id[868] is None  # unmatched / matched but no poster
    assert img.features is None  # computed lazily


def test_ml_latest_small(data_dir):
    ds = load_dataset("ml-latest-small", data_dir)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (610, 9742, 100836)
    assert ds.n_attributes == 19 and "(no genres listed)" not in ds.attribute_names
    assert "IMAX" in ds.attribute_names
    n_attrs = np.diff(ds.attr_indptr)
    assert (n_attrs == 0).sum() == 34  # the "(no genres listed)" movies keep their place, with no attribute
    assert set(np.unique(ds.ratings * 2).astype(int)) == set(range(1, 11))
    assert ds.modalities["image"].coverage == 2947


@pytest.mark.parametrize(
    "name,counts",
    [("amazon-sports", (35598, 18357, 296337, 2277)), ("amazon-beauty", (22363, 12101, 198502, 637))],
)
def test_amazon(data_dir, name, counts):
    ds = load_dataset(name, data_dir)
    assert (ds.n_users, ds.n_items, ds.n_interactions, ds.n_attributes) == counts
    assert ds.ratings is None and ds.positive_mask().all()
    assert "image" not in ds.modalities
    assert (np.diff(ds.attr_indptr) >= 1).all()


def test_summary_cli_prints_true_counts(data_dir, capsys):
    from m2vae_pyro.cli import main

    assert main(["data", "summary", "ml-100k", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in ["users: 943", "items: 1682", "interactions: 100000", "attributes: 19", "items with image: 1668"]:
        assert line in out
    assert main(["data", "summary", "amazon-sports", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in ["users: 35598", "items: 18357", "interactions: 296337"]:
        assert line in out


def test_data_dir_from_environment(data_dir, monkeypatch, capsys):
    from m2vae_pyro.cli import main

    monkeypatch.setenv("M2VAE_DATA", str(data_dir))
    assert main(["data", "summary", "ml-100k"]) == 0
    assert "users: 943" in capsys.readouterr().out
