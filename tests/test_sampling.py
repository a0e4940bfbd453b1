"""Sampler correctness: negatives are never positives, co-occurrence items are warm, streams are seeded."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m2vae_pyro.data import PairSet, TripleSampler, cold_start_split, load_dataset


@pytest.fixture(scope="module")
def setup(data_dir):
    ds = load_dataset("ml-100k", data_dir)
    split = cold_start_split(ds, seed=0)
    return ds, split, TripleSampler(split, ds.n_users, ds.n_items, c_p=10, c_n=40)


def _positive_pairs(split):
    return set(zip(split.train_users.tolist(), split.train_items.tolist()))


def test_triples(setup):
    ds, split, sampler = setup
    tr = sampler.sample(np.random.default_rng(1), n=20_000)
    pos = _positive_pairs(split)
    assert all((u, i) in pos for u, i in zip(tr.pos_users.tolist(), tr.items.tolist()))
    assert not any((u, i) in pos for u, i in zip(tr.neg_users.tolist(), tr.items.tolist()))
    assert tr.pos_items.shape == (20_000, 10) and tr.neg_items.shape == (20_000, 40)
    for row in range(0, 20_000, 97):
        u = tr.pos_users[row]
        assert all((u, v) in pos for v in tr.pos_items[row].tolist())
        assert not any((u, v) in pos for v in tr.neg_items[row].tolist())
    assert (split.role[tr.neg_items] == 0).all() and (split.role[tr.pos_items] == 0).all()
    # the triple's own item is avoided among the user's positives whenever the user has others
    own = tr.pos_items == tr.items[:, None]
    assert not own[sampler.user_degree[tr.pos_users] > 1].any()


def test_negative_users_are_uniform(setup):
    ds, split, sampler = setup
    item = np.bincount(sampler.items).argmax()  # the most popular warm item
    index = np.flatnonzero(sampler.items == item)
    rng = np.random.default_rng(0)
    draws = np.concatenate([sampler.sample(rng, index=index).neg_users for _ in range(200)])
    allowed = np.setdiff1d(np.arange(ds.n_users), sampler.users[index])
    counts = np.bincount(draws, minlength=ds.n_users)[allowed]
    assert counts.sum() == len(draws)
    expected = len(draws) / len(allowed)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < len(allowed) + 6 * np.sqrt(2 * len(allowed))  # far tail of chi² with |allowed|-1 dof


def test_epochs_are_seeded_and_cover_every_positive(setup):
    _, _, sampler = setup
    a = list(sampler.epoch(seed=5, epoch=2, batch_size=4096))
    b = list(sampler.epoch(seed=5, epoch=2, batch_size=4096))
    assert all(np.array_equal(x.neg_items, y.neg_items) for x, y in zip(a, b))
    assert np.array_equal(np.sort(np.concatenate([x.index for x in a])), np.arange(len(sampler)))
    resumed = list(sampler.epoch(seed=5, epoch=2, batch_size=4096, start=3))
    assert np.array_equal(resumed[0].neg_users, a[3].neg_users)
    c = next(sampler.epoch(seed=5, epoch=3, batch_size=4096))
    assert not np.array_equal(c.index, a[0].index)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.data())
def test_pairset_matches_python_set(n_users, n_items, data):
    k = data.draw(st.integers(0, n_users * n_items))
    keys = data.draw(st.lists(st.integers(0, n_users * n_items - 1), min_size=k, max_size=k))
    users, items = np.array(keys, dtype=np.int64) // n_items, np.array(keys, dtype=np.int64) % n_items
    ps = PairSet(users, items, n_users, n_items)
    qu, qi = np.divmod(np.arange(n_users * n_items), n_items)
    assert ps.contains(qu, qi).tolist() == [q in set(keys) for q in range(n_users * n_items)]


def test_degenerate_data_is_refused():
    from m2vae_pyro.data.split import ColdStartSplit

    users, items = np.array([0, 1]), np.array([0, 0])  # item 0 positive for every user
    split = ColdStartSplit(role=np.array([0, 0]), pos_users=users, pos_items=items, seed=0, threshold=None)
    with pytest.raises(ValueError, match="positive for every user"):
        TripleSampler(split, n_users=2, n_items=2)
