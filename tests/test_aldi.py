"""ALDI: its losses as published, its teacher-qualifying weights, training, and cold items scored from content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.baselines.aldi import teacher_weights
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.data.sampling import TripleSampler
from m2vae_pyro.data.split import cold_start_split

from synthetic import tiny_dataset

SETTINGS = Settings(epochs=1, batch_size=64, c_p=2, c_n=4)
TINY = {"d": 8, "hidden": 16}


def prepared(ds, split, **hyper):
    """ALDI after its teacher's pre-training, with the sampler and a first batch of triples."""
    model = build_baseline("aldi", ds, split, SETTINGS, TINY | hyper)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, SETTINGS.c_p, SETTINGS.c_n)
    model.prepare(sampler, progress=False)
    batch = TripleBatch.from_triples(next(iter(sampler.epoch(0, 0, 64))), len(sampler))
    return model, sampler, batch


def cold_items(split) -> torch.Tensor:
    return torch.from_numpy(np.r_[split.items("validation"), split.items("test")])


def test_teacher_weights_match_a_hand_computation():
    ds = tiny_dataset(n_users=60, n_items=40)
    split = cold_start_split(ds, 0, threshold=None)
    w = teacher_weights(split, ds.n_users, ds.n_items, 4.0)
    item = int(split.train_items[0])
    degree = np.bincount(split.train_users, minlength=ds.n_users)
    x = sum(1.0 / degree[u] for u, i in zip(split.train_users, split.train_items) if i == item)
    want = min(np.tanh(4.0 / (ds.n_users / ds.n_items) * x), np.tanh(4.0))
    assert w[item].item() == pytest.approx(want, rel=1e-6)
    assert w.max() <= np.tanh(4.0) + 1e-7 and (w[cold_items(split)] == 0).all()  # cold items: no teacher


@pytest.mark.parametrize("negatives", ["items", "users"])
def test_loss_matches_the_published_terms(tiny_split, negatives):
    ds, split = tiny_split
    model, _, batch = prepared(ds, split, alpha=0.3, beta=0.2, gamma=0.7, reg=0.0, negatives=negatives)
    model.eval()  # deterministic towers: the terms are then plain functions of the embeddings
    i, j = batch.items, batch.neg_items[:, 0]
    e_u, e_i, e_j = model.users[batch.pos_users], model.items[i], model.items[j]
    f_i, f_j = model.item_tower(model.content[i]), model.item_tower(model.content[j])
    f_u = model.user_tower(e_u)
    if negatives == "items":  # as published: the user's positive against a negative item
        t, s = ((e_u * e_i).sum(-1), (e_u * e_j).sum(-1)), ((f_u * f_i).sum(-1), (f_u * f_j).sum(-1))
    else:  # our item-to-user reading: the item's positive user against a negative user
        e_n = model.users[batch.neg_users]
        f_n = model.user_tower(e_n)
        t, s = ((e_u * e_i).sum(-1), (e_n * e_i).sum(-1)), ((f_u * f_i).sum(-1), (f_n * f_i).sum(-1))
    w = model.weights[i]

    def soft_bce(logit, teacher_logit):
        p = torch.sigmoid(teacher_logit)
        return -(p * F.logsigmoid(logit) + (1 - p) * F.logsigmoid(-logit))

    def iden(x_i, x_j):
        return (x_i * x_i).sum(-1) - torch.stack([(x_i * x_j[k]).sum(-1) for k in range(len(x_j))], 1).mean(1)

    want = (-F.logsigmoid(s[0] - s[1]).mean()
            + 0.3 * (w * soft_bce(s[0] - s[1], t[0] - t[1])).mean()
            + 0.2 * (w * soft_bce(iden(f_i, f_j), iden(e_i, e_j))).mean()
            + 0.7 * ((t[0] - s[0]).abs() + (t[1] - s[1]).abs()).mean())
    torch.testing.assert_close(model.loss(batch), want)


def test_only_the_student_towers_are_trained(tiny_split):
    ds, split = tiny_split
    model, _, batch = prepared(ds, split)
    model.train()
    model.loss(batch).backward()
    assert all(n.startswith(("user_tower", "item_tower")) for n, _ in model.named_parameters())
    assert all(p.grad is not None for p in model.parameters())
    assert not any(b.requires_grad for b in model.buffers())  # the teacher stays frozen


def test_training_loss_falls(tiny_split):
    ds, split = tiny_split
    model, sampler, _ = prepared(ds, split)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()

    def epoch_loss(epoch: int, step: bool) -> float:
        total = 0.0
        for b in model.batches(sampler, epoch):
            loss = model.loss(b)
            if step:
                optim.zero_grad()
                loss.backward()
                optim.step()
            total += loss.item()
        return total

    before = epoch_loss(0, step=False)
    for e in range(30):
        epoch_loss(e, step=True)
    assert epoch_loss(0, step=False) < 0.9 * before  # the soft labels leave an entropy floor


def test_cold_items_are_scored_from_content_alone():
    ds = tiny_dataset(n_users=60, n_items=40)
    split = cold_start_split(ds, 0, threshold=None)
    model, _, _ = prepared(ds, split)
    model.eval()
    users, cold = torch.arange(ds.n_users), cold_items(split)
    warm = torch.from_numpy(split.items("train"))
    a, b = cold[0], cold[1]
    with torch.inference_mode():
        before = model.score_indices(users, cold)
        want = model.user_tower(model.users[users]) @ model.item_tower(model.content[cold]).T
        torch.testing.assert_close(before, want)
        torch.testing.assert_close(model.score_indices(users, a[None])[:, 0], before[:, 0])  # alone or in a batch
        # every other item's interactions (its teacher row, its teacher weight, its content) are no input
        model.items[cold] = 1e3
        model.items[warm] += 1.0
        model.weights[warm] = 0.5
        model.content[warm] = 0.0
        torch.testing.assert_close(model.score_indices(users, cold), before)
        # two cold items with the same content get the same scores; the content is what moves them
        model.content[b] = model.content[a]
        s = model.score_indices(users, torch.stack([a, b]))
        torch.testing.assert_close(s[:, 0], s[:, 1])
        assert not torch.allclose(s[:, 1], before[:, 1])
