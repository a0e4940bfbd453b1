"""The one evaluator, both protocols, against answers worked out by hand and against brute-force loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from m2vae_pyro.data.split import ColdStartSplit
from m2vae_pyro.evaluation.metrics import rank_metrics, top_candidates
from m2vae_pyro.evaluation.protocols import candidate_users, evaluate

from synthetic import tiny_dataset

# Two cold items (rows) ranking four users (columns).
SCORES = torch.tensor([[0.9, 0.1, 0.5, 0.3],
                       [0.2, 0.8, 0.7, 0.4]])
TRUTH = torch.tensor([[True, False, False, True],
                      [False, False, True, False]])


def test_item_to_user_by_hand():
    # item 0: top-2 users 0 (hit), 2 → 1 hit of 2 positives; item 1: users 1, 2 (hit at rank 2) → 1 of 1.
    m = rank_metrics(SCORES, TRUTH, ks=(2,))
    assert m["hr@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["recall@2"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    # CCFCRec NDCG: ideal DCG over the retrieved hits → item 0: 1/1, item 1: (1/log2 3) / 1
    assert m["ndcg@2"] == pytest.approx((1.0 + 1 / math.log2(3)) / 2)
    # standard NDCG: ideal over min(|GT|, k) → item 0: 1 / (1 + 1/log2 3), item 1: (1/log2 3) / 1
    assert m["ndcg_std@2"] == pytest.approx((1 / (1 + 1 / math.log2(3)) + 1 / math.log2(3)) / 2)


def test_ties_rank_by_candidate_index_in_both_protocols():
    # item 0: all four users tie at 1 except user 3 → order 0, 1, 2 (index order), its positive (user 2) is third;
    # item 1: user 2 first (0.9), then the tie 0, 1, 3 in index order → top-2 = users 2, 0: the hit is user 0.
    scores = torch.tensor([[1.0, 1.0, 1.0, 0.0],
                           [0.5, 0.5, 0.9, 0.5]])
    truth = torch.tensor([[False, False, True, False],
                          [True, False, False, True]])
    for _ in range(3):  # the same answer whatever the memory layout of the copy
        m = rank_metrics(scores.clone().T.contiguous().T, truth, ks=(1, 2, 3))
        assert m["hr@1"] == 0.0 and m["hr@2"] == pytest.approx((0 + 1 / 2) / 2)
        assert m["hr@3"] == pytest.approx((1 / 3 + 1 / 3) / 2)  # item 0's user 2 enters at rank 3; item 1: user 0
    # rows of equal scores: the lower candidate index comes first in every row
    tied = torch.tensor([[0.7, 0.7], [0.2, 0.2], [0.7, 0.7]])
    t = torch.tensor([[False, True], [True, False], [True, True]])
    m = rank_metrics(tied, t, ks=(1,))
    assert m["hr@1"] == pytest.approx((0 + 1 + 1) / 3)
    # user-to-item: user 0 ranks (1.0, 0.5) → item 0, a miss; user 1 has no positive (skipped); user 2 (1.0, 0.9)
    # → item 0, a hit; user 3 (0.0, 0.5) → item 1, a hit
    m = rank_metrics(scores.T, truth.T, ks=(1,))
    assert m["n_queries"] == 3 and m["hr@1"] == pytest.approx((0 + 1 + 1) / 3)


def test_user_to_item_by_hand():
    # users rank the two items: user 0 → item 0 (hit); user 1 has no positive (skipped); user 2 → item 1 (hit);
    # user 3 → item 1 (0.4 > 0.3, miss: its positive is item 0).
    m = rank_metrics(SCORES.T, TRUTH.T, ks=(1, 2))
    assert m["n_queries"] == 3
    assert m["hr@1"] == pytest.approx(2 / 3)
    assert m["recall@1"] == pytest.approx(2 / 3)
    assert m["ndcg_std@1"] == pytest.approx(2 / 3)
    # at k = 2 every user sees both items: user 3's hit at rank 2
    assert m["recall@2"] == pytest.approx(1.0)
    assert m["ndcg_std@2"] == pytest.approx((1 + 1 + 1 / math.log2(3)) / 3)


def _brute_force(scores: np.ndarray, truth: np.ndarray, k: int) -> dict[str, float]:
    hr, rec, nd, nds = [], [], [], []
    for s, t in zip(scores, truth):
        if not t.any():
            continue
        order = sorted(range(len(s)), key=lambda j: -s[j])[:k]
        gains = [1.0 if t[j] else 0.0 for j in order]
        dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
        hits = int(sum(gains))
        hr.append(hits / k)
        rec.append(hits / t.sum())
        nd.append(dcg / sum(1 / math.log2(r + 2) for r in range(hits)) if hits else 0.0)
        nds.append(dcg / sum(1 / math.log2(r + 2) for r in range(min(int(t.sum()), k))))
    return {"hr": np.mean(hr), "recall": np.mean(rec), "ndcg": np.mean(nd), "ndcg_std": np.mean(nds)}


@pytest.mark.parametrize("protocol", ["item-to-user", "user-to-item"])
def test_evaluate_matches_brute_force_on_a_dataset(protocol):
    ds = tiny_dataset()
    role = np.zeros(ds.n_items, dtype=np.int64)
    role[[3, 5, 7, 11, 13]] = 2  # test cold items
    split = ColdStartSplit.from_roles(ds, role, seed=0, threshold=None)
    table = torch.from_numpy(np.random.default_rng(1).normal(size=(ds.n_users, ds.n_items)).astype(np.float32))
    got = evaluate(lambda u, i: table[u][:, i], ds, split, "test", ks=(3,), protocol=protocol, item_chunk=2)
    users, items = candidate_users(split), split.items("test")
    truth = np.zeros((len(items), len(users)), dtype=bool)
    for u, i in zip(*split.positives("test")):
        if u in users:
            truth[list(items).index(i), list(users).index(u)] = True
    scores = table.numpy()[np.ix_(users, items)].T
    if protocol == "user-to-item":
        scores, truth = scores.T, truth.T
    want = _brute_force(scores, truth, 3)
    for name, value in want.items():
        assert got[f"{name}@3"] == pytest.approx(value), name
    pos_users, _ = split.positives("test")
    assert got["n_unrankable_positives"] == sum(u not in users for u in pos_users)


def test_positives_of_users_without_training_positives_are_counted():
    ds = tiny_dataset()
    role = np.zeros(ds.n_items, dtype=np.int64)
    role[[3, 5, 7]] = 2
    # every positive of user 0 on warm items is made cold too, so user 0 has no training positive
    first = ColdStartSplit.from_roles(ds, role, seed=0, threshold=None)
    role[first.pos_items[first.pos_users == 0]] = 2
    split = ColdStartSplit.from_roles(ds, role, seed=0, threshold=None)
    assert 0 not in candidate_users(split)
    got = evaluate(lambda u, i: torch.zeros(len(u), len(i)), ds, split, "test", ks=(1,))
    pos_users, _ = split.positives("test")
    assert got["n_unrankable_positives"] == (pos_users == 0).sum() > 0


def test_unknown_protocol_is_named():
    ds = tiny_dataset()
    split = ColdStartSplit.from_roles(ds, np.zeros(ds.n_items, dtype=np.int64), seed=0, threshold=None)
    with pytest.raises(ValueError, match="user-to-item"):
        evaluate(lambda u, i: torch.zeros(len(u), len(i)), ds, split, "test", protocol="item2user")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8), st.integers(1, 40), st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_top_candidates_equal_the_first_k_of_a_stable_descending_sort(q, c, k, levels, seed):
    """Without sorting whole rows, the same top k as the stable sort, ties by ascending index — scores with few
    distinct values put ties across the k-th place; continuous ones, -inf and a NaN row are checked too."""
    k = min(k, c)
    gen = torch.Generator().manual_seed(seed)
    for scores in (torch.randint(0, levels, (q, c), generator=gen).float(), torch.randn(q, c, generator=gen)):
        scores[0, 0] = float("-inf")
        want = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        assert torch.equal(top_candidates(scores, k), want)
    scores[-1, -1] = float("nan")
    want = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    assert torch.equal(top_candidates(scores, k), want)


@pytest.mark.parametrize("chunk_bytes", [1, 4 * 20])  # one interaction a chunk; a few; (default: one chunk)
def test_content_activity_profiles_in_chunks_equal_one_gather(monkeypatch, tiny_split, chunk_bytes):
    """The users' content profiles are summed over chunks of interactions (an ML-20M-size catalogue's whole gather is
    82 GB): the scores are those of the unchunked sum, bit for bit."""
    from m2vae_pyro.baselines import reference

    ds, split = tiny_split
    users, items = torch.arange(ds.n_users), torch.arange(ds.n_items)
    want = reference.content_activity_scorer(ds, split)(users, items)
    monkeypatch.setattr(reference, "PROFILE_CHUNK_BYTES", chunk_bytes)
    assert torch.equal(reference.content_activity_scorer(ds, split)(users, items), want)
