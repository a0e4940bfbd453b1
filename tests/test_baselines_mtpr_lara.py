"""MTPR and LARA: their losses against hand computations, and cold items scored from content alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.data.sampling import TripleSampler
from m2vae_pyro.nn.content import dense_content

SETTINGS = Settings(epochs=2, batch_size=64, c_p=2, c_n=4)


def first_batch(split, ds, batch_size=64):
    sampler = TripleSampler(split, ds.n_users, ds.n_items, 2, 4)
    return sampler, TripleBatch.from_triples(next(iter(sampler.epoch(0, 0, batch_size))), len(sampler))


@pytest.mark.parametrize("negatives", ["users", "items"])
def test_mtpr_loss_is_the_four_bpr_terms_plus_the_code_regulariser(tiny_split, negatives):
    ds, split = tiny_split
    hyper = {"d": 4, "cross_weight": 0.3, "reg_emb": 0.2, "negatives": negatives}
    model = build_baseline("mtpr", ds, split, SETTINGS, hyper)
    _, batch = first_batch(split, ds)
    d, content = 4, dense_content(ds)
    if negatives == "users":  # (u, i) above (v, i): the item's positive user above its negative user
        u, i, v, j = batch.pos_users, batch.items, batch.neg_users, batch.items
    else:  # the code's (u, i) above (u, j): the user's positive item above a warm item they never liked
        u, i, v, j = batch.pos_users, batch.items, batch.pos_users, batch.neg_items[:, 0]
    with torch.no_grad():
        p, q = model.user_emb[u] @ model.w_user, model.user_emb[v] @ model.w_user

        def rep(items, with_id):
            ids = model.item_emb[items] if with_id else torch.zeros(len(items), d)
            return torch.cat([ids, content[items] @ model.w_content], 1) @ model.w_item

        def bpr(a, b):
            return -torch.log(torch.sigmoid((p * a).sum(1) - (q * b).sum(1)))

        n_i, c_i, n_j, c_j = rep(i, True), rep(i, False), rep(j, True), rep(j, False)
        terms = bpr(n_i, n_j) + bpr(c_i, c_j) + 0.3 * (bpr(n_i, c_j) + bpr(c_i, n_j))
        sq = {"users": model.user_emb[u].pow(2).sum() + model.user_emb[v].pow(2).sum() + model.item_emb[i].pow(2).sum(),
              "items": model.user_emb[u].pow(2).sum() + model.item_emb[i].pow(2).sum() + model.item_emb[j].pow(2).sum()}
        reg = (0.2 * sq[negatives] + 0.01 * (model.w_content.pow(2).sum() + model.w_user.pow(2).sum())
               + 0.01 * model.w_item.pow(2).sum())
        expected = (terms.sum() + reg) / len(u)
        assert torch.allclose(model.loss(batch), expected, rtol=1e-5)


def test_mtpr_negatives_are_warm_items_the_user_never_liked(tiny_split):
    ds, split = tiny_split
    _, batch = first_batch(split, ds)
    neg = batch.neg_items[:, 0].numpy()
    assert np.isin(neg, split.items("train")).all()
    liked = set(zip(split.train_users.tolist(), split.train_items.tolist()))
    assert not any((u, j) in liked for u, j in zip(batch.pos_users.tolist(), neg.tolist()))


def test_mtpr_scores_cold_items_with_the_counterfactual_representation(tiny_split):
    ds, split = tiny_split
    model = build_baseline("mtpr", ds, split, SETTINGS, {"d": 4})
    model.fit(progress=False)
    cold = torch.from_numpy(np.r_[split.items("validation"), split.items("test")])
    # cold rows of the ID table never receive a gradient, so they are still at their (seeded) initial values …
    before = build_baseline("mtpr", ds, split, SETTINGS, {"d": 4}).item_emb[cold]
    assert torch.equal(model.item_emb.detach()[cold], before)
    # … and the score ignores them: [0 ; c_i W] W_i against p_u W_u
    users = torch.arange(ds.n_users)
    with torch.inference_mode():
        scores = model.score_indices(users, cold)
        expected = (model.user_emb[users] @ model.w_user) @ (
            torch.cat([torch.zeros(len(cold), 4), dense_content(ds)[cold] @ model.w_content], 1) @ model.w_item).T
        assert torch.allclose(scores, expected, atol=1e-6)
        model.item_emb[cold] = 123.0
        assert torch.equal(model.score_indices(users, cold), scores)


def test_lara_profiles_are_summed_content_of_the_warm_positives(tiny_split):
    ds, split = tiny_split
    model = build_baseline("lara", ds, split, SETTINGS, {"hidden": 8})
    content = dense_content(ds)
    mean_degree = len(split.train_users) / ds.n_users
    for u in (0, 7, 33):
        mine = split.train_items[split.train_users == u]
        assert torch.allclose(model.profiles[u], content[mine].sum(0) / mean_degree, atol=1e-5)
    assert not np.isin(split.train_items, np.r_[split.items("validation"), split.items("test")]).any()


def test_lara_discriminator_loss_against_hand_computation(tiny_split):
    ds, split = tiny_split
    model = build_baseline("lara", ds, split, SETTINGS, {"hidden": 8, "neg_weight": 0.4})
    _, batch = first_batch(split, ds)
    a = dense_content(ds)[batch.items]

    def d(users):
        return torch.sigmoid(model.discriminator(torch.cat([a, users], 1)).squeeze(1))

    with torch.no_grad():
        fake = model.generator(a)
        expected = -(torch.log(d(model.profiles[batch.pos_users])).mean() + torch.log(1 - d(fake)).mean()
                     + 0.4 * torch.log(1 - d(model.profiles[batch.neg_users])).mean())
        assert torch.allclose(model.loss(("discriminator", batch)), expected, rtol=1e-5)
        assert torch.allclose(model.loss(("generator", batch.items)), -torch.log(d(fake)).mean(), rtol=1e-5)


def test_lara_phases_train_one_network_each(tiny_split):
    ds, split = tiny_split
    model = build_baseline("lara", ds, split, SETTINGS, {"hidden": 8})
    sampler, batch = first_batch(split, ds)
    for phase, data, trained, frozen in (("discriminator", batch, model.discriminator, model.generator),
                                         ("generator", batch.items, model.generator, model.discriminator)):
        model.zero_grad(set_to_none=True)
        model.loss((phase, data)).backward()
        assert all(p.grad is None for p in frozen.parameters())
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained.parameters())
    phases = [phase for phase, _ in model.batches(sampler, 0)]
    n = sampler.n_batches(SETTINGS.batch_size)
    assert phases == ["discriminator"] * n + ["generator"] * n


def test_lara_scores_cold_items_by_generated_user_similarity(tiny_split):
    ds, split = tiny_split
    model = build_baseline("lara", ds, split, SETTINGS, {"hidden": 8})
    model.fit(progress=False)
    cold = torch.from_numpy(split.items("test"))
    users = torch.arange(ds.n_users)
    with torch.inference_mode():
        generated = model.generator(dense_content(ds)[cold])
        assert torch.allclose(model.score_indices(users, cold), model.profiles @ generated.T, atol=1e-6)
    # the generated users are tanh outputs in the profile space
    assert generated.shape[1] == model.profiles.shape[1] and generated.abs().max() <= 1


def test_lara_generator_step_moves_generated_users_towards_what_d_calls_real(tiny_split):
    ds, split = tiny_split
    model = build_baseline("lara", ds, split, SETTINGS, {"hidden": 8})
    items = torch.from_numpy(split.train_items[:64])
    optim = torch.optim.Adam(model.generator.parameters(), lr=1e-2)
    first = model.loss(("generator", items)).item()
    for _ in range(20):
        optim.zero_grad()
        model.loss(("generator", items)).backward()
        optim.step()
    assert model.loss(("generator", items)).item() < first
