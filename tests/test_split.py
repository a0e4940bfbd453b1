"""The cold-start split: seeded, 20% cold halved, and no cold item's interactions reach training."""

import numpy as np
import pytest

from m2vae_pyro.data import DataError, TripleSampler, cold_start_split, load_dataset, load_split


@pytest.fixture(scope="module")
def ml100k(data_dir):
    return load_dataset("ml-100k", data_dir)


def test_fractions_and_seed(ml100k):
    split = cold_start_split(ml100k, seed=3)
    with_pos = np.unique(ml100k.items[ml100k.ratings >= 4])
    cold = split.items("validation").size + split.items("test").size
    assert cold == round(0.2 * len(with_pos))
    assert abs(split.items("validation").size - split.items("test").size) <= 1
    assert (split.role[np.setdiff1d(np.arange(ml100k.n_items), with_pos)] == -1).all()
    again = cold_start_split(ml100k, seed=3)
    assert np.array_equal(split.role, again.role)
    assert not np.array_equal(split.role, cold_start_split(ml100k, seed=4).role)


def test_no_cold_item_reaches_training(ml100k):
    split = cold_start_split(ml100k, seed=0)
    cold = set(split.items("validation")) | set(split.items("test"))
    assert cold.isdisjoint(set(split.train_items.tolist()))
    assert (ml100k.ratings[np.isin(ml100k.items, list(cold))] >= 0).any()  # they do have interactions
    # and nothing a sampler draws is cold, over many draws
    sampler = TripleSampler(split, ml100k.n_users, ml100k.n_items, c_p=10, c_n=40)
    tr = sampler.sample(np.random.default_rng(0), n=50_000)
    drawn = np.concatenate([tr.items, tr.pos_items.ravel(), tr.neg_items.ravel()])
    assert cold.isdisjoint(set(np.unique(drawn).tolist()))
    # training positives are exactly the rating >= 4 interactions on warm items
    mask = (ml100k.ratings >= 4) & (split.role[ml100k.items] == 0)
    assert len(split.train_items) == mask.sum()


def test_threshold_setting(ml100k):
    loose = cold_start_split(ml100k, seed=0, threshold=1)
    assert len(loose.pos_items) == ml100k.n_interactions


def test_save_and_reload(ml100k, tmp_path):
    split = cold_start_split(ml100k, seed=7)
    path = tmp_path / "split.csv"
    split.save(path, ml100k)
    text = path.read_text().splitlines()
    assert text[0].startswith("# dataset=ml-100k seed=7") and text[1] == "item_id,role"
    again = load_split(path, ml100k)
    assert np.array_equal(again.role, split.role) and again.seed == 7 and again.threshold == 4.0


def test_split_for_other_dataset_is_refused(ml100k, data_dir, tmp_path):
    path = tmp_path / "split.csv"
    cold_start_split(ml100k, seed=0).save(path, ml100k)
    other = load_dataset("amazon-beauty", data_dir)
    with pytest.raises(DataError, match="split is for dataset 'ml-100k', not 'amazon-beauty'"):
        load_split(path, other)


def test_amazon_every_interaction_is_positive(data_dir):
    ds = load_dataset("amazon-beauty", data_dir)
    split = cold_start_split(ds, seed=0)
    assert len(split.pos_items) == ds.n_interactions and split.threshold is None
