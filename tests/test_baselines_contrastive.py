"""CLCRec, CCFCRec and PAD-CLRec: their losses against hand computations, their samplers, their inference path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.baselines.ccfcrec import contrast
from m2vae_pyro.baselines.contrastive import UserItemSampler, candidate_logits, first_candidate_nce
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.data.sampling import TripleSampler
from m2vae_pyro.data.split import cold_start_split
from m2vae_pyro.nn.losses import bpr, cooccurrence

from synthetic import tiny_dataset

SMALL = {"d": 8, "hidden": 16, "batch_size": 64}


@pytest.fixture(scope="module")
def tiny():
    ds = tiny_dataset(n_users=60, n_items=40)
    return ds, cold_start_split(ds, 0, threshold=None)


def build(name, tiny, **hyper):
    ds, split = tiny
    settings = Settings(c_p=3, c_n=5)
    model = build_baseline(name, ds, split, settings, SMALL | hyper)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, model.settings.c_p, model.settings.c_n)
    model.prepare(sampler, False)
    return model, sampler


def test_first_candidate_nce_by_hand():
    logits = torch.tensor([[1.0, 0.0, 2.0], [0.5, 0.5, -1.0]])
    tau = 2.0
    expected = [-math.log(math.exp(r[0] / tau) / sum(math.exp(x / tau) for x in r)) for r in logits.tolist()]
    assert torch.allclose(first_candidate_nce(logits, tau), torch.tensor(expected))


def test_candidate_logits_is_the_gathered_dot_product():
    g = torch.Generator().manual_seed(0)
    anchor, table = torch.randn(4, 3, generator=g), torch.randn(6, 3, generator=g)
    index = torch.randint(6, (4, 5), generator=g)
    expected = torch.einsum("bd,bkd->bk", anchor, table[index])
    assert torch.allclose(candidate_logits(anchor, table, index), expected, atol=1e-6)


def test_contrast_is_the_cooccurrence_loss_with_the_positive():
    g = torch.Generator().manual_seed(1)
    q, pos, neg = torch.randn(4, 6, generator=g), torch.randn(4, 3, 6, generator=g), torch.randn(4, 5, 6, generator=g)
    tau = 0.1

    def cos(x, ys):
        return F.cosine_similarity(x[:, None], ys, dim=-1) / tau

    assert torch.allclose(contrast(cos(q, pos), cos(q, neg)), cooccurrence(q, pos, neg, tau, include_positive=True),
                          atol=1e-5)


def test_user_item_sampler(tiny):
    ds, split = tiny
    sampler = TripleSampler(split, ds.n_users, ds.n_items, 3, 5)
    examples = UserItemSampler(sampler, n_neg=7, user_items=True)
    batches = list(examples.epoch(0, 0, 64))
    warm = set(split.items("train").tolist())
    positives = set(zip(split.train_users.tolist(), split.train_items.tolist(), strict=True))
    assert sum(len(b.users) for b in batches) == len(split.train_users)
    for b in batches:
        assert b.items.shape == (len(b.users), 8) and b.user_items.shape == (len(b.users), 3)
        for u, row, group in zip(b.users.tolist(), b.items.tolist(), b.user_items.tolist(), strict=True):
            assert (u, row[0]) in positives  # column 0 is the positive
            assert all((u, j) not in positives and j in warm for j in row[1:])  # warm negatives of the user
            assert all((u, j) in positives for j in group)  # PAD-CLRec's group: the user's own warm items
    again = list(UserItemSampler(sampler, n_neg=7).epoch(0, 0, 64))
    assert all(torch.equal(a.items, b.items) for a, b in zip(batches, again, strict=True))  # seeded by (seed, epoch)


def test_content_mask_replaces_the_reference_share(tiny):
    model, _ = build("clcrec", tiny)
    share = model.content_mask(torch.Size((200, 129))).float().mean().item()
    assert abs(share - (1 - math.exp(-model.mix))) < 0.01  # int(0.5·N) draws with replacement


def clcrec_by_hand(model, batch, mask):
    """CLCRec's loss on gathered [B, K, d] rows, as model_CLCRec.py computes it."""
    u = model.embedding[batch.users]
    e = model.embedding[model.n_users + batch.items]
    f = model.encoder(model.content[batch.items])
    tau = model.tau

    def nce(anchor, cands):
        s = torch.einsum("bd,bkd->bk", anchor, cands) / tau
        return -torch.log(s.exp()[:, 0] / s.exp().sum(-1))

    item_item = nce(F.normalize(e[:, 0], dim=-1), F.normalize(f, dim=-1))
    user_item = nce(u, torch.where(mask[..., None], f, e))
    reg = (u.norm(dim=-1).mean() + e.norm(dim=-1).mean()) / 2
    return model.lam * item_item + (1 - model.lam) * user_item, model.reg_weight * reg


def test_clcrec_loss_by_hand(tiny, monkeypatch):
    model, sampler = build("clcrec", tiny, n_neg=6)
    batch = next(model.batches(sampler, 0))
    mask = torch.rand(batch.items.shape) < 0.4
    monkeypatch.setattr(model, "content_mask", lambda shape: mask)
    per_example, reg = clcrec_by_hand(model, batch, mask)
    assert torch.allclose(model.loss(batch), per_example.mean() + reg, atol=1e-5)


def test_pad_clrec_adds_the_group_term(tiny, monkeypatch):
    model, sampler = build("pad-clrec", tiny, n_neg=6, group_weight=0.3)
    batch = next(model.batches(sampler, 0))
    mask = torch.rand(batch.items.shape) < 0.4
    monkeypatch.setattr(model, "content_mask", lambda shape: mask)
    per_example, reg = clcrec_by_hand(model, batch, mask)
    p = model.embedding[model.n_users + batch.user_items].mean(1)  # the user's preference: mean of its group
    f = model.encoder(model.content[batch.items])
    s = torch.einsum("bd,bkd->bk", F.normalize(p, dim=-1), F.normalize(f, dim=-1)) / model.tau
    group = torch.logsumexp(s, -1) - s[:, 0]
    expected = (0.7 * per_example + 0.3 * group).mean() + reg
    assert torch.allclose(model.loss(batch), expected, atol=1e-5)


def test_ccfcrec_loss_by_hand(tiny):
    model, sampler = build("ccfcrec", tiny)
    batch = next(model.batches(sampler, 0))
    q, e, tau = model.content(batch.items), model.items[batch.items], model.tau
    neg = model.items[batch.neg_items]
    co = cooccurrence(q, model.items[batch.pos_items], neg, tau, include_positive=True)
    self_contrast = cooccurrence(q, e[:, None], neg, tau, include_positive=True)  # the official code's term
    u, u_neg = model.users[batch.pos_users], model.users[batch.neg_users]
    rank = bpr(e, u, u_neg) + bpr(q, u, u_neg)
    expected = (model.lam * (co + self_contrast) + (1 - model.lam) * rank).mean()
    assert torch.allclose(model.loss(batch), expected, atol=1e-5)


def test_ccfcrec_self_contrast_counts(tiny):
    """Pulling q_i towards the item's own ID embedding lowers the loss; the term is really there."""
    model, sampler = build("ccfcrec", tiny)
    batch = next(model.batches(sampler, 0))
    before = model.loss(batch).item()
    with torch.no_grad():
        model.items[batch.items] = model.content(batch.items)
    assert model.loss(batch).item() < before


@pytest.mark.parametrize("name", ["clcrec", "pad-clrec", "ccfcrec"])
def test_cold_items_get_no_interaction_signal(tiny, name):
    """Cold ID rows never get a gradient; cold scores are the user embeddings against the content encoder."""
    model, sampler = build(name, tiny)
    ds, split = tiny
    cold = torch.from_numpy(np.concatenate([split.items("validation"), split.items("test")]))
    model.train()
    for batch in model.batches(sampler, 0):
        model.zero_grad()
        model.loss(batch).backward()
        grad = model.embedding.grad[model.n_users + cold] if name != "ccfcrec" else model.items.grad[cold]
        assert not grad.abs().any()
    model.eval()
    users = torch.arange(ds.n_users)
    with torch.inference_mode():
        scores = model.score_indices(users, cold)
        if name == "ccfcrec":
            expected = model.users @ model.content(cold).T
            model.items[cold] = 5.0  # an ID row of a cold item plays no part
        else:
            expected = model.embedding[users] @ model.encoder(model.content[cold]).T
            model.embedding[model.n_users + cold] = 5.0
        assert torch.allclose(scores, expected)
        assert torch.equal(model.score_indices(users, cold), scores)


def test_published_defaults():
    from m2vae_pyro.baselines.registry import spec

    clc = spec("clcrec").defaults
    assert (clc["tau"], clc["lam"], clc["reg_weight"], clc["n_neg"], clc["lr"], clc["batch_size"]) == \
        (2.0, 0.5, 0.1, 128, 1e-3, 256)  # the README's MovieLens command
    ccf = spec("ccfcrec").defaults
    assert (ccf["tau"], ccf["lam"], ccf["d"]) == (0.1, 0.5, 128)
    for name in ("clcrec", "ccfcrec", "pad-clrec"):
        grid = spec(name).grid
        assert 4 <= math.prod(len(v) for v in grid.values()) <= 8 and set(grid["d"]) == {64, 128}


def test_loss_goes_down_on_a_batch(tiny):
    model, sampler = build("pad-clrec", tiny)
    batch = next(model.batches(sampler, 0))
    torch.manual_seed(0)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(10):
        optim.zero_grad()
        model.loss(batch).backward()
        optim.step()
    assert model.loss(batch).item() < first


def test_triples_batch_type_is_unchanged_for_ccfcrec(tiny):
    model, sampler = build("ccfcrec", tiny)
    assert isinstance(next(model.batches(sampler, 0)), TripleBatch)  # CCFCRec trains on M²VAE's triples
