"""DropoutNet, GAR and CVAR: the baselines over pre-trained BPR-MF embeddings (their losses, samplers, inference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.baselines.cvar import wasserstein2
from m2vae_pyro.baselines.dropoutnet import standardize
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.data.sampling import TripleSampler

SETTINGS = Settings(epochs=1, batch_size=64, c_p=2, c_n=4)
TINY = {"d": 8, "hidden": 16}


def prepared(tiny_split, name: str, **hyper):
    """A baseline after its pre-training, with the sampler and a first batch of triples."""
    ds, split = tiny_split
    model = build_baseline(name, ds, split, SETTINGS, TINY | hyper)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, SETTINGS.c_p, SETTINGS.c_n)
    model.prepare(sampler, progress=False)
    batch = TripleBatch.from_triples(next(iter(sampler.epoch(0, 0, 64))), len(sampler))
    return model, sampler, batch


def cold_items(tiny_split) -> torch.Tensor:
    return torch.from_numpy(np.r_[tiny_split[1].items("validation"), tiny_split[1].items("test")])


def scores_ignore_cold_preferences(model, tiny_split, buffer: str) -> None:
    """Overwriting the cold items' rows of a preference buffer leaves their scores unchanged."""
    users, items = torch.arange(tiny_split[0].n_users), cold_items(tiny_split)
    model.eval()
    with torch.inference_mode():
        before = model.score_indices(users, items)
        getattr(model, buffer)[items] = 1e3
        after = model.score_indices(users, items)
    torch.testing.assert_close(before, after)


def test_standardize_matches_a_hand_computation():
    x = torch.tensor([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [100.0, -7.0]])
    rows = torch.tensor([True, True, True, False])
    out = standardize(x, rows)
    mean, std = x[:3].mean(0), x[:3].std(0, unbiased=False)
    torch.testing.assert_close(out[:3], (x[:3] - mean) / std)
    assert out[3].eq(0).all()  # a row outside the fit (a cold item) is no input
    clipped = standardize(torch.cat([torch.zeros(99, 1), torch.ones(1, 1)]), torch.ones(100, dtype=torch.bool))
    assert clipped.max() == 5.0  # the reference caps at 5 standard deviations


def test_dropoutnet_pairs_drop_exactly_half_and_use_warm_entities(tiny_split):
    model, sampler, _ = prepared(tiny_split, "dropoutnet")
    warm = set(tiny_split[1].items("train").tolist())
    batches = list(model.batches(sampler, 0))
    assert len(batches) == -(-len(sampler) // SETTINGS.batch_size)
    for b in batches:
        assert int((b.keep == 0).sum()) == SETTINGS.batch_size // 2
        assert set(b.items.tolist()) <= warm
        assert set(b.users.tolist()) <= set(tiny_split[1].train_users.tolist())
    # the top lists hold each user's highest pre-trained scores among warm items
    u = 3
    v = model.pref_items[torch.from_numpy(model.warm)]
    best = model.warm[torch.topk(model.pref_users[u] @ v.T, model.top.shape[1]).indices.numpy()]
    assert set(model.top[u].tolist()) == set(best.tolist())
    # the same (seed, epoch) gives the same pairs
    again = next(iter(model.batches(sampler, 0)))
    assert torch.equal(again.items, batches[0].items) and torch.equal(again.keep, batches[0].keep)


def test_dropoutnet_loss_is_mse_to_raw_pretrained_scores(tiny_split):
    model, sampler, _ = prepared(tiny_split, "dropoutnet")
    b = next(iter(model.batches(sampler, 1)))
    model.eval()
    target = (model.pref_users[b.users] * model.pref_items[b.items]).sum(-1)
    u = model.f_user(model.in_users[b.users])
    v = model.f_item(torch.cat([model.in_items[b.items] * b.keep, model.content[b.items]], -1))
    torch.testing.assert_close(model.loss(b), ((u * v).sum(-1) - target).pow(2).mean())
    assert model.f_user[1].__class__.__name__ == "BatchNorm1d" and len(model.f_user) == 7  # [800, 400] → d


def test_dropoutnet_cold_items_enter_with_a_zero_preference(tiny_split):
    model, _, _ = prepared(tiny_split, "dropoutnet")
    users, items = torch.arange(5), cold_items(tiny_split)
    model.eval()
    with torch.inference_mode():
        v = model.f_item(torch.cat([torch.zeros(len(items), 8), model.content[items]], -1))
        torch.testing.assert_close(model.score_indices(users, items), model.f_user(model.in_users[users]) @ v.T)
    scores_ignore_cold_preferences(model, tiny_split, "in_items")


def test_gar_each_loss_reaches_only_its_own_network(tiny_split):
    model, _, batch = prepared(tiny_split, "gar")
    model.train()
    e_u, e_i = model.users[batch.pos_users], model.items[batch.items]
    e_j, c = model.users[batch.neg_users], model.content[batch.items]

    def grads(loss):
        model.zero_grad(set_to_none=True)
        loss.backward()
        return {name: p.grad is not None and p.grad.abs().sum() > 0 for name, p in model.named_parameters()}

    rec = grads(model.recommender_loss(e_u, e_i, e_j, model.generator(c).detach()))
    gen = grads(model.generator_loss(e_u, e_i, model.generator(c)))
    assert not any(v for n, v in rec.items() if n.startswith("generator"))
    assert any(v for n, v in rec.items() if n.startswith("item_tower"))
    assert not any(v for n, v in gen.items() if not n.startswith("generator"))
    assert all(v for n, v in gen.items() if n.startswith("generator"))
    assert model.user_tower.training  # the generator step's inference mode is undone


@pytest.mark.parametrize("negatives", ["users", "items"])
def test_gar_losses_match_the_published_formulas(tiny_split, negatives):
    model, _, batch = prepared(tiny_split, "gar", alpha=0.3, beta=0.2, reg=0.0, negatives=negatives)
    model.eval()  # deterministic towers: the formulas are then plain functions of the embeddings
    e_u, e_i = model.users[batch.pos_users], model.items[batch.items]
    gen = model.generator(model.content[batch.items])

    def r(u, i):
        return (model.user_tower(u) * model.item_tower(i)).sum(-1)

    if negatives == "users":  # our item-to-user reading: a user without a positive on i
        e_neg = model.users[batch.neg_users]
        neg = r(e_neg, e_i)
    else:  # as published: a warm item u has no positive on
        e_neg = model.items[batch.neg_items[:, 0]]
        neg = r(e_u, e_neg)
    rec = -F.logsigmoid(r(e_u, e_i) - 0.8 * r(e_u, gen) - 0.2 * neg).mean()
    torch.testing.assert_close(model.recommender_loss(e_u, e_i, e_neg, gen), rec)
    g = 0.7 * -F.logsigmoid(r(e_u, gen) - r(e_u, e_i)).mean() + 0.3 * (gen - e_i).abs().mean()
    torch.testing.assert_close(model.generator_loss(e_u, e_i, gen), g)


def test_gar_cold_items_are_generated_from_content(tiny_split):
    model, _, _ = prepared(tiny_split, "gar")
    users, items = torch.arange(6), cold_items(tiny_split)
    model.eval()
    with torch.inference_mode():
        want = model.user_tower(model.users[users]) @ model.item_tower(model.generator(model.content[items])).T
        torch.testing.assert_close(model.score_indices(users, items), want)
    scores_ignore_cold_preferences(model, tiny_split, "items")


def test_wasserstein2_of_diagonal_gaussians():
    m1, m2 = torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 1.0]])
    lv1, lv2 = torch.log(torch.tensor([[1.0, 4.0]])), torch.log(torch.tensor([[9.0, 4.0]]))
    # ‖μ₁ − μ₂‖² + ‖σ₁ − σ₂‖² = 4 + (1 − 3)² = 8
    torch.testing.assert_close(wasserstein2(m1, lv1, m2, lv2), torch.tensor([8.0]))
    assert wasserstein2(m1, lv1, m1, lv1).item() == 0.0


def test_cvar_loss_is_main_plus_recon_plus_weighted_w2(tiny_split):
    model, _, batch = prepared(tiny_split, "cvar", noise=0.0, reg_weight=0.5)
    e = model.items[batch.items]
    mean, logv = model.encoder(e)
    mean_p, logv_p = model.prior(model.content(batch.items))
    warm = model.decoder(mean_p)
    main = -F.logsigmoid((warm * model.users[batch.pos_users]).sum(-1)
                         - (warm * model.users[batch.neg_users]).sum(-1)).mean()
    recon = (model.decoder(mean) - e).pow(2).sum(-1).mean()
    reg = ((mean - mean_p).pow(2).sum(-1) + ((0.5 * logv).exp() - (0.5 * logv_p).exp()).pow(2).sum(-1)).sum()
    torch.testing.assert_close(model.loss(batch), main + recon + 0.5 * reg)


def test_cvar_repeats_each_batch_and_generates_cold_embeddings_from_content(tiny_split):
    model, sampler, _ = prepared(tiny_split, "cvar", iters=3)
    seen = [b.items for b in model.batches(sampler, 0)]
    assert len(seen) == 3 * -(-len(sampler) // SETTINGS.batch_size)
    assert torch.equal(seen[0], seen[1]) and torch.equal(seen[1], seen[2])
    users, items = torch.arange(7), cold_items(tiny_split)
    model.eval()
    with torch.inference_mode():
        want = model.users[users] @ model.decoder(model.prior(model.content(items))[0]).T
        torch.testing.assert_close(model.score_indices(users, items), want)
    scores_ignore_cold_preferences(model, tiny_split, "items")
    assert not any(p.requires_grad for p in model.buffers())  # the backbone stays frozen
