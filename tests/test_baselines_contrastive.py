"""CLCRec, CCFCRec and PAD-CLRec: their losses against hand computations, their samplers, their inference path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.baselines.ccfcrec import contrast
from m2vae_pyro.baselines.contrastive import UserItemBatch, UserItemSampler, candidate_logits, first_candidate_nce
from m2vae_pyro.data.batch import TripleBatch
from m2vae_pyro.data.sampling import TripleSampler
from m2vae_pyro.nn.losses import bpr, cooccurrence

SMALL = {"d": 8, "hidden": 16, "batch_size": 64}


def build(name, tiny_split, **hyper):
    ds, split = tiny_split
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


@pytest.mark.parametrize("rows", [6, 400])  # the full product (6 rows) and the gathered candidates (400 > 50·2)
def test_candidate_logits_is_the_gathered_dot_product(rows):
    g = torch.Generator().manual_seed(0)
    anchor = torch.randn(4, 3, generator=g, requires_grad=True)
    table = torch.randn(rows, 3, generator=g, requires_grad=True)
    index = torch.randint(rows, (4, 2), generator=g)
    index[1, 1] = index[1, 0]  # a row twice in one example
    expected = torch.einsum("bd,bkd->bk", anchor, table[index])
    weights = torch.randn(4, 2, generator=g)
    got = candidate_logits(anchor, table, index)
    torch.testing.assert_close(got, expected)
    grads = torch.autograd.grad((got * weights).sum(), (anchor, table))
    torch.testing.assert_close(grads, torch.autograd.grad((expected * weights).sum(), (anchor, table)))


def test_contrast_is_the_cooccurrence_loss_with_the_positive():
    g = torch.Generator().manual_seed(1)
    q, pos, neg = torch.randn(4, 6, generator=g), torch.randn(4, 3, 6, generator=g), torch.randn(4, 5, 6, generator=g)
    tau = 0.1

    def cos(x, ys):
        return F.cosine_similarity(x[:, None], ys, dim=-1) / tau

    assert torch.allclose(contrast(cos(q, pos), cos(q, neg)), cooccurrence(q, pos, neg, tau, include_positive=True),
                          atol=1e-5)


def test_user_item_sampler(tiny_split):
    ds, split = tiny_split
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
    assert all(b.neg_users.shape == (len(b.users), 0) for b in batches)  # none unless asked for


def test_negative_users_are_never_positives_of_the_item(tiny_split):
    ds, split = tiny_split
    sampler = TripleSampler(split, ds.n_users, ds.n_items, 3, 5)
    positives = set(zip(split.train_users.tolist(), split.train_items.tolist(), strict=True))
    plain = list(UserItemSampler(sampler, n_neg=7, user_items=True).epoch(3, 2, 64))
    batches = list(UserItemSampler(sampler, n_neg=7, user_items=True, n_neg_users=9).epoch(3, 2, 64))
    drawn = set()
    for b, p in zip(batches, plain, strict=True):
        assert b.neg_users.shape == (len(b.users), 9) and b.neg_users.dtype == torch.int64
        for item, row in zip(b.items[:, 0].tolist(), b.neg_users.tolist(), strict=True):
            assert all(0 <= v < ds.n_users and (v, item) not in positives for v in row)
            drawn.update(row)
        # drawn last: the published form's arrays are those of a batch without negative users
        assert torch.equal(b.items, p.items) and torch.equal(b.user_items, p.user_items)
    assert len(drawn) > ds.n_users // 2  # spread over the users, not a few fixed ones
    again = list(UserItemSampler(sampler, n_neg=7, user_items=True, n_neg_users=9).epoch(3, 2, 64))
    assert all(torch.equal(a.neg_users, b.neg_users) for a, b in zip(batches, again, strict=True))
    other = next(UserItemSampler(sampler, n_neg=7, n_neg_users=9).epoch(3, 3, 64))
    assert not torch.equal(other.neg_users, batches[0].neg_users)  # a new epoch draws anew


def test_content_mask_replaces_the_reference_share(tiny_split):
    model, _ = build("clcrec", tiny_split)
    share = model.content_mask(torch.Size((200, 129))).float().mean().item()
    assert abs(share - (1 - math.exp(-model.mix))) < 0.01  # int(0.5·N) draws with replacement


def clcrec_by_hand(model, batch, mask):
    """CLCRec's loss on gathered [B, K, d] rows, as model_CLCRec.py computes it (``negatives="items"``), or with
    the item's mixed embedding against its positive and negative users (``"users"``)."""
    u = model.embedding[batch.users]
    e = model.embedding[model.n_users + batch.items]
    f = model.encode(batch.items)
    tau = model.tau

    def nce(anchor, cands):
        s = torch.einsum("bd,bkd->bk", anchor, cands) / tau
        return -torch.log(s.exp()[:, 0] / s.exp().sum(-1))

    item_item = nce(F.normalize(e[:, 0], dim=-1), F.normalize(f, dim=-1))
    if model.negatives == "items":
        user_item = nce(u, torch.where(mask[..., None], f, e))
        reg = (u.norm(dim=-1).mean() + e.norm(dim=-1).mean()) / 2
    else:
        users = model.embedding[torch.cat([batch.users[:, None], batch.neg_users], dim=1)]  # positive first
        user_item = nce(torch.where(mask, f[:, 0], e[:, 0]), users)
        reg = (users.norm(dim=-1).mean() + e[:, 0].norm(dim=-1).mean()) / 2
    return model.lam * item_item + (1 - model.lam) * user_item, model.reg_weight * reg


def mixing_mask(model, batch):
    """A fixed content/ID mask in the shape the model asks for: the candidates (items) or the rows (users)."""
    shape = batch.items.shape if model.negatives == "items" else (len(batch.users), 1)
    return torch.rand(shape, generator=torch.Generator().manual_seed(5)) < 0.4


@pytest.mark.parametrize("negatives", ["items", "users"])
def test_clcrec_loss_by_hand(tiny_split, monkeypatch, negatives):
    model, sampler = build("clcrec", tiny_split, n_neg=6, negatives=negatives)
    batch = next(model.batches(sampler, 0))
    assert batch.neg_users.shape == ((len(batch.users), 6) if negatives == "users" else (len(batch.users), 0))
    mask = mixing_mask(model, batch)
    monkeypatch.setattr(model, "content_mask", lambda shape: mask)
    per_example, reg = clcrec_by_hand(model, batch, mask)
    assert torch.allclose(model.loss(batch), per_example.mean() + reg, atol=1e-5)


def test_clcrec_users_form_by_hand_numbers(tiny_split, monkeypatch):
    """The users-form user–item term on one row from scalars: ``e_i · e_v / τ`` over the positive user first."""
    model, sampler = build("clcrec", tiny_split, n_neg=2, lam=0.0, reg_weight=0.0, tau=2.0)
    full = next(model.batches(sampler, 0))
    r = next(r for r in range(len(full.users)) if full.neg_users[r, 0] != full.neg_users[r, 1])
    batch = UserItemBatch(*(t[r : r + 1] for t in (full.users, full.items, full.user_items, full.neg_users)))
    monkeypatch.setattr(model, "content_mask", lambda shape: torch.zeros(shape, dtype=torch.bool))  # the ID row
    u, (v, w), i = batch.users[0].item(), batch.neg_users[0].tolist(), batch.items[0, 0].item()
    with torch.no_grad():
        model.embedding.zero_()
        model.embedding[model.n_users + i, 0] = 1.0
        model.embedding[[u, v, w], 0] = torch.tensor([3.0, 1.0, -1.0])
    logits = [3.0 / 2, 1.0 / 2, -1.0 / 2]
    expected = -math.log(math.exp(logits[0]) / sum(math.exp(x) for x in logits))
    assert model.loss(batch).item() == pytest.approx(expected, rel=1e-5)


def test_negatives_must_be_named(tiny_split):
    with pytest.raises(ValueError, match="negatives"):
        build("clcrec", tiny_split, negatives="both")


@pytest.mark.parametrize("negatives", ["items", "users"])
def test_pad_clrec_adds_the_group_term(tiny_split, monkeypatch, negatives):
    model, sampler = build("pad-clrec", tiny_split, n_neg=6, group_weight=0.3, negatives=negatives)
    batch = next(model.batches(sampler, 0))
    mask = mixing_mask(model, batch)
    monkeypatch.setattr(model, "content_mask", lambda shape: mask)
    per_example, reg = clcrec_by_hand(model, batch, mask)
    p = model.embedding[model.n_users + batch.user_items].mean(1)  # the user's preference: mean of its group
    f = model.encode(batch.items)
    s = torch.einsum("bd,bkd->bk", F.normalize(p, dim=-1), F.normalize(f, dim=-1)) / model.tau
    group = torch.logsumexp(s, -1) - s[:, 0]
    expected = (0.7 * per_example + 0.3 * group).mean() + reg
    assert torch.allclose(model.loss(batch), expected, atol=1e-5)


def test_ccfcrec_loss_by_hand(tiny_split):
    model, sampler = build("ccfcrec", tiny_split)
    batch = next(model.batches(sampler, 0))
    q, e, tau = model.content(batch.items), model.items[batch.items], model.tau
    neg = model.items[batch.neg_items]
    co = cooccurrence(q, model.items[batch.pos_items], neg, tau, include_positive=True)
    self_contrast = cooccurrence(q, e[:, None], neg, tau, include_positive=True)  # the official code's term
    u, u_neg = model.users[batch.pos_users], model.users[batch.neg_users]
    rank = bpr(e, u, u_neg) + bpr(q, u, u_neg)
    expected = (model.lam * (co + self_contrast) + (1 - model.lam) * rank).mean()
    assert torch.allclose(model.loss(batch), expected, atol=1e-5)


def test_ccfcrec_self_contrast_counts(tiny_split):
    """Pulling q_i towards the item's own ID embedding lowers the loss; the term is really there."""
    model, sampler = build("ccfcrec", tiny_split)
    batch = next(model.batches(sampler, 0))
    before = model.loss(batch).item()
    with torch.no_grad():
        model.items[batch.items] = model.content(batch.items)
    assert model.loss(batch).item() < before


@pytest.mark.parametrize("name", ["clcrec", "pad-clrec", "ccfcrec"])
def test_cold_items_get_no_interaction_signal(tiny_split, name):
    """Cold ID rows never get a gradient; cold scores are the user embeddings against the content encoder."""
    model, sampler = build(name, tiny_split)
    ds, split = tiny_split
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
            expected = model.embedding[users] @ model.encode(cold).T
            model.embedding[model.n_users + cold] = 5.0
        assert torch.allclose(scores, expected)
        assert torch.equal(model.score_indices(users, cold), scores)


def test_published_defaults():
    from m2vae_pyro.baselines.registry import spec

    clc = spec("clcrec").defaults
    assert (clc["tau"], clc["lam"], clc["reg_weight"], clc["n_neg"], clc["lr"], clc["batch_size"]) == \
        (2.0, 0.5, 0.1, 128, 1e-3, 256)  # the README's MovieLens command
    assert clc["negatives"] == spec("pad-clrec").defaults["negatives"] == "users"  # ours; "items" the published
    ccf = spec("ccfcrec").defaults
    assert (ccf["tau"], ccf["lam"], ccf["d"]) == (0.1, 0.5, 128)
    for name in ("clcrec", "ccfcrec", "pad-clrec"):
        grid = spec(name).grid
        assert 4 <= math.prod(len(v) for v in grid.values()) <= 8 and set(grid["d"]) == {64, 128}


@pytest.mark.parametrize("name", ["ccfcrec", "clcrec", "pad-clrec"])
def test_loss_goes_down_on_a_batch(tiny_split, name):
    model, sampler = build(name, tiny_split)
    batch = next(model.batches(sampler, 0))
    torch.manual_seed(0)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(batch).item()
    for _ in range(10):
        optim.zero_grad()
        model.loss(batch).backward()
        optim.step()
    assert model.loss(batch).item() < first


def test_triples_batch_type_is_unchanged_for_ccfcrec(tiny_split):
    model, sampler = build("ccfcrec", tiny_split)
    assert isinstance(next(model.batches(sampler, 0)), TripleBatch)  # CCFCRec trains on M²VAE's triples
