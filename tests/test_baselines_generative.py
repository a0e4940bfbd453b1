"""GoRec and the collaborative VAE (``cvae``): their loss terms against hand computations, and cold items that
are scored from content (and, for GoRec, warm items' embeddings) only."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.baselines.base import warm_item_batches
from m2vae_pyro.baselines.gorec import cluster_means, kmeans, uniformity
from m2vae_pyro.data.split import cold_start_split

from synthetic import tiny_dataset

TINY = {"d": 8, "hidden": 16}


def build(name, tiny_split, **hyper):
    ds, split = tiny_split
    return build_baseline(name, ds, split, Settings(epochs=2, batch_size=64, c_p=2, c_n=4), TINY | hyper)


def test_uniformity_is_the_log_mean_gaussian_potential_of_unit_rows():
    x = torch.randn(5, 3, dtype=torch.float64)
    u = x / x.norm(dim=1, keepdim=True)
    pairs = [math.exp(-2 * (u[j] - u[k]).pow(2).sum().item()) for j in range(5) for k in range(j + 1, 5)]
    assert uniformity(x).item() == pytest.approx(math.log(sum(pairs) / len(pairs)), rel=1e-9)


def test_kmeans_separates_blobs_and_cluster_means_read_warm_rows_only():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(20, 4, generator=g) * 0.01 + 5, torch.randn(20, 4, generator=g) * 0.01 - 5])
    labels = kmeans(x, 2, seed=0)
    assert len(set(labels[:20].tolist())) == 1 and len(set(labels[20:].tolist())) == 1
    assert labels[0] != labels[20]

    onehot = torch.eye(30)[torch.randint(30, (60,), generator=g)]  # density 1/30: the sparse path
    centres = onehot[torch.randperm(60, generator=torch.Generator().manual_seed(1))[:8]].clone()
    for _ in range(20):  # plain Lloyd from the same start
        reference = torch.cdist(onehot, centres).argmin(1)
        for j in reference.unique():
            centres[j] = onehot[reference == j].mean(0)
    assert torch.equal(kmeans(onehot, 8, seed=1), reference)

    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    emb = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    warm = torch.tensor([0, 1, 3])  # item 2 (cluster 0), item 4 (cluster 1) and item 5 (cluster 2) are cold
    means = cluster_means(labels, emb, warm)
    assert torch.equal(means[2], (emb[0] + emb[1]) / 2)  # the cold item 2's own row is not averaged in
    assert torch.equal(means[4], emb[3])
    assert torch.equal(means[5], emb[warm].mean(0))  # a cluster of cold items only: the mean of all warm items


def test_an_epoch_is_one_seeded_pass_over_the_warm_items_without_a_batch_of_one():
    batches = list(warm_item_batches(257, seed=3, epoch=1, size=256))
    assert sorted(torch.cat(batches).tolist()) == list(range(257))
    assert min(len(b) for b in batches) > 1
    assert all(torch.equal(a, b) for a, b in zip(batches, warm_item_batches(257, 3, 1, 256), strict=True))


def test_gorec_loss_is_mse_plus_weighted_kl_to_the_content_prior_plus_uniformity(tiny_split):
    model = build("gorec", tiny_split, kl_weight=7.0, uniformity_weight=3.0)
    model.pref_items.normal_()
    model.eval()  # BatchNorm on running statistics, no dropout: the sampled z is the only randomness
    pos = next(iter(model.batches(None, 0)))
    items = model.warm[pos]
    e, c, nets = model.pref_items[items], model.content[items], model.nets
    torch.manual_seed(1)
    loss = model.loss(pos)
    torch.manual_seed(1)
    loc, scale = nets.posterior(e, c)
    z = loc + scale * torch.randn_like(loc)
    mse = (nets.generate(z, c) - e).pow(2).mean()
    kl = kl_divergence(Normal(loc, scale), Normal(*nets.prior(c))).mean()
    # + ½ log π: the normaliser of N(e; ê, ½) per element
    expected = mse + 0.5 * math.log(math.pi) + 7.0 * kl + 3.0 * uniformity(loc)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_gorec_scores_a_cold_item_from_its_cluster_mean_and_content_against_frozen_users(tiny_split):
    ds, split = tiny_split
    model = build("gorec", tiny_split)
    model.fit(progress=False)
    cold = torch.from_numpy(split.items("test"))
    users = torch.arange(ds.n_users)
    with torch.inference_mode():
        scores = model.score_indices(users, cold)
        loc, _ = model.nets.posterior(model.cluster_mean[cold], model.content[cold])
        expected = model.pref_users @ model.nets.generate(loc, model.content[cold]).T
        model.pref_items[cold] += 100.0  # cold items' own CF rows are never read
        assert torch.allclose(model.score_indices(users, cold), scores)
    assert torch.allclose(scores, expected)
    assert not any(p.requires_grad for p in (model.pref_users, model.pref_items))  # the backbone stays frozen


def test_cvae_rating_term_over_all_pairs_without_the_dense_matrix(tiny_split):
    ds, split = tiny_split
    model = build("cvae", tiny_split, a=1.0, b=0.01)
    parts = model.parts
    items = model.warm[:7]
    v = torch.randn(len(items), 8, dtype=torch.float64)
    parts.user_latent.data = parts.user_latent.data.double()
    users, pos_items = split.positives("train")
    r = torch.zeros(ds.n_users, ds.n_items, dtype=torch.float64)
    r[users, pos_items] = 1.0
    c = 0.01 + 0.99 * r[:, items]  # a on observed, b on unobserved pairs
    dense = (c * (r[:, items] - parts.user_latent.data @ v.T).pow(2)).sum(0)
    with torch.no_grad():
        assert torch.allclose(parts.weighted_squared_errors(items, v), dense, rtol=1e-10)


def test_cvae_loss_is_the_negative_collaborative_objective(tiny_split):
    model = build("cvae", tiny_split, lambda_u=0.3, lambda_v=4.0, lambda_r=2.0)
    parts, nets = model.parts, model.parts.nets
    model.eval()
    pos = next(iter(model.batches(None, 0)))
    items = model.warm[pos]
    torch.manual_seed(2)
    loss = model.loss(pos)
    torch.manual_seed(2)
    loc, scale = nets.posterior(parts.content[items])
    z = loc + scale * torch.randn_like(loc)
    out, k = nets.generate(z), parts.n_attr
    attrs = torch.nn.functional.binary_cross_entropy_with_logits(out[:, :k], parts.attributes[items],
                                                                 reduction="none").sum(-1)
    image = -Normal(out[:, k:], parts.image_scale).log_prob(parts.images[items]).sum(-1) * parts.has_image[items]
    kl = kl_divergence(Normal(loc, scale), Normal(0.0, 1.0)).sum(-1)
    v = parts.item_latent[items]
    coupling = -Normal(z, 4.0 ** -0.5).log_prob(v).sum(-1)  # 4/2 ‖v − z‖² + its normaliser
    per_item = 2.0 * (attrs + image + kl) + coupling + 0.5 * parts.weighted_squared_errors(items, v)
    users = 0.5 * 0.3 * parts.user_latent.pow(2).sum() / len(model.warm)
    expected = per_item.mean() + users + 2e-4 * (nets.l1.weight.pow(2).sum() + nets.l2.weight.pow(2).sum())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_cvae_cold_items_are_the_inference_mean_of_their_content(tiny_split):
    ds, split = tiny_split
    model = build("cvae", tiny_split, pretrain_epochs=2)
    model.fit(progress=False)
    cold = torch.from_numpy(split.items("test"))
    users = torch.arange(ds.n_users)
    with torch.inference_mode():
        scores = model.score_indices(users, cold)
        expected = model.parts.user_latent @ model.parts.nets.posterior(model.parts.content[cold])[0].T
        model.parts.item_latent[cold] += 100.0  # a cold item's v is never a trained row
        assert torch.allclose(model.score_indices(users, cold), scores)
    assert torch.allclose(scores, expected)


def test_cvae_without_images_reconstructs_attributes_only():
    ds = tiny_dataset(n_users=30, n_items=20, image=False)
    model = build_baseline("cvae", ds, cold_start_split(ds, 0, threshold=None), Settings(epochs=1), TINY)
    assert model.parts.images is None
    assert torch.isfinite(model.loss(next(iter(model.batches(None, 0)))))


def test_cvae_pretraining_is_the_content_vae_alone_and_training_never_moves_cold_rows(tiny_split):
    ds, split = tiny_split
    model = build("cvae", tiny_split)
    pos = next(iter(model.batches(None, 0)))
    model.objective(pos, coupled=False).backward()
    assert model.parts.user_latent.grad is None and model.parts.item_latent.grad is None
    model.zero_grad()
    model.loss(pos).backward()
    grad = model.parts.item_latent.grad
    assert grad[model.warm[pos]].abs().sum() > 0
    cold = torch.from_numpy(np.concatenate([split.items("validation"), split.items("test")]))
    assert not grad[cold].any()
