"""Posterior draws: Predictive over the guide (warm) and the conditional prior (cold), HDIs, the ArviZ adapter."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.evaluation.posterior import draw_posterior, hdi, to_inference_data
from m2vae_pyro.m2vae import M2VAE

from synthetic import tiny_dataset


def test_hdi_of_a_normal_is_about_plus_minus_1_88_sigma():
    x = np.random.default_rng(0).normal(size=(200_000, 3)) * np.array([1.0, 2.0, 0.5])
    lo, hi = hdi(x, 0.94)
    assert np.allclose(hi, 1.881 * np.array([1.0, 2.0, 0.5]), rtol=0.02)
    assert np.allclose(lo, -hi, rtol=0.03)


def test_hdi_is_the_narrowest_interval_for_a_skewed_sample():
    x = np.random.default_rng(1).exponential(size=(100_000, 1))
    lo, hi = hdi(x, 0.9)
    assert lo[0] < 0.01 and hi[0] == pytest.approx(-np.log(0.1), rel=0.03)  # [0, q90] is the narrowest


def test_draws_for_warm_and_cold_items_and_their_inference_data():
    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None))
    m.fit(progress=False)
    warm, cold = m.split.items("train")[:5], m.split.items("test")[:4]
    users = np.zeros(len(warm) + len(cold), dtype=np.int64)
    draws = draw_posterior(m.model, m.guide, warm, cold, users, num_samples=7)
    n = len(warm) + len(cold)
    assert draws.samples["e_new"].shape == (7, n, 8) and draws.samples["score"].shape == (7, n)
    assert draws.cold.tolist() == [False] * len(warm) + [True] * len(cold)
    assert np.isfinite(draws.samples["z"]).all() and (draws.samples["z"].std(0) > 0).all()
    # the score is e_new · e_u of the reference user, draw by draw
    e_u = m.nets.user_emb.weight[0].detach().numpy()
    assert np.allclose(draws.samples["score"], draws.samples["e_new"] @ e_u, atol=1e-5)
    idata = to_inference_data(draws, ds.item_ids)
    assert idata.posterior["e_new"].dims == ("chain", "draw", "item", "latent")
    assert idata.posterior["score"].shape == (1, 7, n)
    assert bool(idata.constant_data["is_cold"].values[-1])


def test_cold_draws_average_to_the_prior_mean_decode():
    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None,
                                   prior="standard", cold_path="prior"))
    cold = m.split.items("test")[:3]
    draws = draw_posterior(m.model, m.guide, np.array([], dtype=np.int64), cold,
                           np.zeros(3, dtype=np.int64), num_samples=4000)
    assert np.allclose(draws.samples["z"].mean(0), 0.0, atol=0.06)  # N(0, I) prior
    assert np.allclose(draws.samples["z"].std(0), 1.0, atol=0.06)
    with torch.no_grad():
        assert torch.isfinite(m.score_indices(torch.arange(3), torch.from_numpy(cold))).all()


def test_guide_cold_draws_center_on_the_scored_cold_path():
    """Cold items on the ``guide`` path: draws of z average to the fused mean the exact scorer decodes."""
    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None))
    cold = m.split.items("test")[:3]
    users = np.array([0, 1, 2])
    draws = draw_posterior(m.model, m.guide, np.array([], dtype=np.int64), cold, users, num_samples=4000)
    with torch.no_grad():
        views = m.nets.views(torch.from_numpy(cold))
        user = m.nets.user_emb(torch.from_numpy(users))
        mean = m.nets.cold_dist(views, views.mu, views.mu_com, user).mean  # gates at the view means
        weights, vectors = m.nets.cold_mean_terms(views, user)
        exact = torch.einsum("kui,kid->uid", weights, vectors).diagonal(dim1=0, dim2=1).T  # pair (u_j, i_j)
    assert torch.allclose(mean, exact, atol=1e-5)
    # the draws' gates come from drawn views, so their mean is near (not at) the mean-gated fused view
    assert np.abs(draws.samples["z"].mean(0) - mean.numpy()).max() < 0.25


def test_facade_sample_posterior_keeps_the_callers_order():
    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None))
    warm, cold = m.split.items("train")[:3], m.split.items("test")[:2]
    items = np.array([cold[0], warm[0], warm[1], cold[1], warm[2]])
    pyro.set_rng_seed(0)
    draws = m.sample_posterior_indices(items, num_samples=5)
    assert draws.items.tolist() == items.tolist()
    assert draws.cold.tolist() == [True, False, False, True, False]
    active = np.argmax(np.bincount(m.split.train_users, minlength=ds.n_users))
    assert (draws.users == active).all()  # default reference user: the most active one
    pyro.set_rng_seed(0)
    grouped = draw_posterior(m.model, m.guide, warm, cold, np.full(5, active), num_samples=5)
    # the same draws as the warm-first call, put back in the caller's order
    assert np.allclose(draws.samples["e_new"][:, [1, 2, 4, 0, 3]], grouped.samples["e_new"])
    with pytest.raises(ValueError, match="one per item"):
        m.sample_posterior_indices(items, users=np.array([0, 1]))
    with pytest.raises(ValueError, match="items: indices"):
        m.sample_posterior_indices(np.array([ds.n_items]))


def test_views_drawn_per_item_are_shared_by_the_pairs_of_an_item():
    """Under ``view_draws = item`` a cold item's view draws are shared by its pairs (as by its triples in training),
    its ``z`` is drawn per pair; every site keeps one row per requested pair."""
    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None,
                                   view_draws="item"))
    m.fit(progress=False)
    c = m.split.items("test")[:2]
    items, users = np.array([c[0], c[0], c[1]]), np.array([0, 1, 0])
    draws = m.sample_posterior_indices(items, users, num_samples=6)
    z_a, z = draws.samples["z_a"], draws.samples["z"]
    assert z_a.shape == (6, 3, 8) and z.shape == (6, 3, 8)
    assert np.array_equal(z_a[:, 0], z_a[:, 1]) and not np.array_equal(z_a[:, 0], z_a[:, 2])
    assert not np.array_equal(z[:, 0], z[:, 1])


def test_pair_scores_chunk_whole_items_when_views_are_drawn_per_item(monkeypatch):
    """``draw_pair_scores`` chunks the (item, user) grid; under ``view_draws = item`` each chunk holds whole items,
    so all users of an item see one draw of its views (a chunk boundary inside an item would draw them twice)."""
    from m2vae_pyro.data.batch import TripleBatch
    from m2vae_pyro.evaluation.posterior import draw_pair_scores

    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None,
                                   view_draws="item"))
    m.fit(progress=False)
    items, users = m.split.items("test")[:3], np.arange(5)
    chunks = []
    of_pairs = TripleBatch.of_pairs
    monkeypatch.setattr(TripleBatch, "of_pairs", staticmethod(lambda it, us: chunks.append(it.tolist())
                                                             or of_pairs(it, us)))
    scores = draw_pair_scores(m.model, m.guide, items, users, cold=True, num_samples=4, max_draws=4 * 7)
    assert scores.shape == (4, 3, 5) and np.isfinite(scores).all()
    assert len(chunks) == 3 and all(chunk == [item] * 5 for chunk, item in zip(chunks, items))  # 7 pairs → 5
