"""MVGAE, MvDGAE (graph baselines over the warm interactions) and the unavailable VMoSE row."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyro
import pytest
import torch

from m2vae_pyro.baselines import Settings, build_baseline, spec
from m2vae_pyro.baselines.graph import normalized_adjacency, row_mean, symmetric_product, to_csr, warm_pairs
from m2vae_pyro.baselines.mvdgae import bayesian_weighting, proximity, reconstruction_bce
from m2vae_pyro.baselines.mvgae import SAMPLE_SCALE, ranking_loss
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.data.sampling import TripleSampler
from m2vae_pyro.nn.experts import poe

SETTINGS = Settings(epochs=1, batch_size=64, c_p=2, c_n=4)
TINY = {"d": 8, "hidden": 16}


def a_batch(split, ds, n=64):
    sampler = TripleSampler(split, ds.n_users, ds.n_items, SETTINGS.c_p, SETTINGS.c_n)
    return TripleBatch.from_triples(next(iter(sampler.epoch(0, 0, n))), len(sampler))


def test_adjacency_is_the_normalised_warm_graph(tiny_split):
    ds, split = tiny_split
    users, items = warm_pairs(split)
    adj = normalized_adjacency(users, items, ds.n_users, ds.n_items).to_dense()
    a = torch.eye(ds.n_users + ds.n_items)
    a[users, items + ds.n_users] = a[items + ds.n_users, users] = 1.0
    inv = a.sum(1).rsqrt()
    torch.testing.assert_close(adj, inv[:, None] * a * inv[None, :])
    cold = torch.from_numpy(np.concatenate([split.items("validation"), split.items("test")])) + ds.n_users
    torch.testing.assert_close(adj[cold], torch.eye(len(adj))[cold])  # a cold item keeps only its self-loop


def test_symmetric_product_matches_the_dense_product_and_its_gradient(tiny_split):
    ds, split = tiny_split
    users, items = warm_pairs(split)
    adj = normalized_adjacency(users, items, ds.n_users, ds.n_items)
    x = torch.randn(len(adj), 3, requires_grad=True)
    w = torch.randn(len(adj), 3)
    (symmetric_product(to_csr(adj), x) * w).sum().backward()
    grad, x.grad = x.grad, None
    (adj.to_dense() @ x * w).sum().backward()
    torch.testing.assert_close(grad, x.grad)
    torch.testing.assert_close(symmetric_product(to_csr(adj), x), adj.to_dense() @ x)


def test_row_mean_averages_and_leaves_empty_rows_zero():
    m = row_mean(np.array([0, 0, 2]), np.array([0, 1, 1]), (3, 2))
    x = torch.tensor([[2.0], [4.0]])
    torch.testing.assert_close(m @ x, torch.tensor([[3.0], [0.0], [4.0]]))


def test_ranking_loss_against_hand_computation():
    z = torch.tensor([[1.0, 0.0], [0.5, 0.5], [2.0, 0.0], [0.0, 3.0]])
    # item 0, positive user 1, negative users {2, 3}: scores 0.5 vs max(2, 0)
    expected = -math.log2(1.0 / (1.0 + math.exp(-(0.5 - 2.0))))
    got = ranking_loss(z, torch.tensor([0]), torch.tensor([1]), torch.tensor([[2, 3]]))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_mvgae_kl_term_is_the_node_averaged_kl_of_every_expert(tiny_split):
    ds, split = tiny_split
    model = build_baseline("mvgae", ds, split, SETTINGS, TINY).eval()  # eval: no dropout, one encoder value
    batch = a_batch(split, ds)
    losses = {}
    for w in (1.0, 2.0):
        model.kl_weight = w
        pyro.set_rng_seed(3)
        losses[w] = model.loss(batch).item()
    kl = 0.0
    for mu, logvar in model.encode().values():
        mu, logvar = mu[model.graph_nodes], logvar[model.graph_nodes]
        s2 = SAMPLE_SCALE**2 * logvar.exp()
        kl += (0.5 * (s2 + mu**2 - 1.0 - s2.log())).sum(-1).mean().item()
    assert losses[2.0] - losses[1.0] == pytest.approx(kl / len(batch.items), rel=1e-4)


def test_mvgae_skip_layer_is_g_of_the_concatenation():
    """``SkipLayer`` computes ``g([lrelu(conv(Âx)) ‖ lrelu(linear(x))])`` as two products summed (no copy into a
    ``[n, 2d]`` input): the values and gradients of the concatenated form."""
    from m2vae_pyro.baselines.mvgae import SkipLayer

    torch.manual_seed(0)
    layer = SkipLayer(5, 4).eval().double()
    ax, x = torch.randn(9, 5, dtype=torch.float64), torch.randn(9, 5, dtype=torch.float64)
    want = layer.g(torch.cat([torch.nn.functional.leaky_relu(layer.conv(ax)),
                              torch.nn.functional.leaky_relu(layer.linear(x))], dim=-1))
    got = layer(ax, x)
    torch.testing.assert_close(got, want)
    probe = torch.randn(9, 4, dtype=torch.float64)
    params = list(layer.parameters())
    for a, b in zip(torch.autograd.grad((got * probe).sum(), params), torch.autograd.grad((want * probe).sum(), params),
                    strict=True):
        torch.testing.assert_close(a, b)


def test_mvgae_loss_is_the_published_objective_on_the_same_noise(tiny_split):
    """The Pyro loss equals the objective of the module docstring written out with torch's Normal: per site, the
    ranking term on ``z ~ N(μ, (0.1σ)²)`` (sigmoid on Amazon) plus the node-averaged KL to N(0, I), over the batch."""
    ds, split = tiny_split
    model = build_baseline("mvgae", ds, split, SETTINGS, TINY).eval()  # eval: no dropout, one encoder value
    batch = a_batch(split, ds)
    pyro.set_rng_seed(5)
    got = model.loss(batch)
    pyro.set_rng_seed(5)
    item, pos, neg = model.node_batch(batch)
    n, want = len(model.graph_nodes), 0.0
    for mu, logvar in model.encode().values():  # the guide's site order
        q = torch.distributions.Normal(mu[model.graph_nodes], SAMPLE_SCALE * (0.5 * logvar[model.graph_nodes]).exp())
        z = torch.zeros(model.n_nodes, mu.shape[-1]).index_copy(0, model.graph_nodes, q.rsample())
        z = torch.sigmoid(z) if model.squash else z
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
        want = want + ranking_loss(z, item, pos, neg) + model.kl_weight * kl.sum() / n
    torch.testing.assert_close(got, want / len(batch.items))


def test_mvgae_cold_items_are_the_poe_of_their_content_experts_only(tiny_split):
    ds, split = tiny_split
    model = build_baseline("mvgae", ds, split, SETTINGS, TINY).eval()
    cold = torch.from_numpy(split.items("test"))
    users = torch.arange(ds.n_users)
    with torch.no_grad():
        enc = model.encode()
        content = [enc[name] for name in model.content_names]
        mu, _ = poe(torch.stack([m for m, _ in content]), torch.stack([v for _, v in content]))
        torch.testing.assert_close(model.embeddings()[cold + ds.n_users], mu[cold + ds.n_users])
        before = model.score_indices(users, cold)
        model.train(), model.eval()  # drop the cached pass
        model.collaborative[cold] += 5.0  # a cold item's id row must not matter
        torch.testing.assert_close(model.score_indices(users, cold), before)


def test_bayesian_weighting_and_proximity_by_hand():
    losses, log_w2 = torch.tensor([0.5, 2.0]), torch.tensor([0.0, math.log(4.0)])
    expected = 0.5 + 2.0 / 4.0 + 2.0 * math.log(4.0)
    assert bayesian_weighting(losses, log_w2).item() == pytest.approx(expected)
    rows = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    expected = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])  # ≥ 3 shared neighbours
    torch.testing.assert_close(proximity(rows, 3), expected)


def test_mvdgae_cold_items_use_no_interaction_data(tiny_split):
    ds, split = tiny_split
    model = build_baseline("mvdgae", ds, split, SETTINGS, TINY).eval()
    cold = torch.from_numpy(split.items("test"))
    warm = torch.from_numpy(split.items("train"))
    with torch.no_grad():
        _, before = model.encode()
        model.users.weight += 1.0  # everything that reaches an item through a user
        _, after = model.encode()
    torch.testing.assert_close(after[cold], before[cold])
    assert not torch.allclose(after[warm], before[warm])


def test_mvdgae_scores_are_the_mlp_on_concatenated_embeddings(tiny_split):
    ds, split = tiny_split
    model = build_baseline("mvdgae", ds, split, SETTINGS, TINY).eval()
    users, items = torch.arange(ds.n_users), torch.from_numpy(split.items("test"))
    with torch.no_grad():
        h_u, h_i = model.encode()
        pairs = model.predict(h_u[users].repeat_interleave(len(items), 0), h_i[items].repeat(len(users), 1))
        torch.testing.assert_close(model.score_indices(users, items), pairs.view(len(users), len(items)))


def test_vmose_is_registered_as_unavailable():
    assert "no paper or code found" in spec("vmose").unavailable


def test_fit_trains_without_pyro_checks_and_restores_them(tiny_split, monkeypatch):
    """Pyro's argument checks are off while a baseline trains (as in M²VAE's trainer) and on again afterwards."""
    from m2vae_pyro.baselines.mvgae import MVGAE

    seen = []
    loss = MVGAE.loss
    monkeypatch.setattr(MVGAE, "loss", lambda self, batch: seen.append(
        pyro.poutine.util.is_validation_enabled()) or loss(self, batch))
    ds, split = tiny_split
    model = build_baseline("mvgae", ds, split, SETTINGS, TINY)
    assert pyro.poutine.util.is_validation_enabled()  # conftest turns them on
    model.fit(progress=False)
    assert seen and not any(seen)
    assert pyro.poutine.util.is_validation_enabled()


def test_mvdgae_loss_over_the_batch_rows_is_the_loss_over_every_row(tiny_split):
    """The fusion MLP runs only over the batch's users and items; the loss and its gradients are those of the
    full-graph pass (Eq. 10–11 written over all embeddings, the same view-dropout draw)."""
    from m2vae_pyro.baselines.graph import select_rows

    ds, split = tiny_split
    model = build_baseline("mvdgae", ds, split, SETTINGS, TINY | {"recon_nodes": 5}).train()
    batch = a_batch(split, ds)
    # negatives only among users 0–9 and positives above them: the batch's first distinct users are not the
    # positives' first, so a row mix-up between the two shows
    rows = batch.pos_users >= 10
    batch = dataclasses.replace(batch, **{f: getattr(batch, f)[rows] for f in
                                          ("index", "items", "pos_users", "pos_items", "neg_items")},
                                neg_users=batch.pos_users[rows] % 10)

    def full(batch):
        h_u, h_i = model.encode()
        n = len(batch.items)
        logits = model.predict(h_u[torch.cat([batch.pos_users, batch.neg_users])], h_i[batch.items.repeat(2)])
        rec = torch.nn.functional.mse_loss(torch.sigmoid(logits), torch.cat([torch.ones(n), torch.zeros(n)]))
        bi, bu = batch.items.unique()[:5], batch.pos_users.unique()[:5]
        rows = (select_rows(model.g_iu_bin, bi), select_rows(model.g_ia_bin, bi), select_rows(model.g_ui_bin, bu))
        recon = torch.stack([reconstruction_bce(h, w, proximity(r, t)) for h, w, r, t in
                             zip((h_i[bi], h_i[bi], h_u[bu]), model.decoders, rows, model.thresholds, strict=True)])
        return bayesian_weighting(recon, model.log_w2) + rec

    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(7)
    got = model.loss(batch)
    got_grads = torch.autograd.grad(got, params, allow_unused=True)
    torch.manual_seed(7)
    want = full(batch)
    want_grads = torch.autograd.grad(want, params, allow_unused=True)
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)
