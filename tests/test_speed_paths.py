"""The faster paths of a training step compute what the direct ones did (issue 34): the gathered dot with its sparse
backward, the co-occurrence term on table rows, the views of distinct items, and what a step computes once."""

import numpy as np
import pyro
import pytest
import torch
from test_model import SMALL, build
from torch.nn import functional as F

from m2vae_pyro.config import Config
from m2vae_pyro.module.views import Views
from m2vae_pyro.nn import losses, similarity
from m2vae_pyro.nn.experts import modality_gates, two_modality_gates
from m2vae_pyro.programs.plain import plain_loss

from synthetic import tiny_dataset


@pytest.mark.parametrize("n_rows", [6, 400])  # both forward paths: full product + gather, gathered rows
def test_gathered_dot_values_and_gradients_equal_the_direct_product(n_rows):
    torch.manual_seed(0)
    anchor = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    rows = torch.randn(n_rows, 4, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, n_rows, (5, 3))
    index[0] = index[0, 0]  # repeated rows within an example sum their gradients
    got = similarity.gathered_dot(anchor, rows, index)
    want = torch.bmm(rows[index], anchor.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(got, want)
    weight = torch.randn(5, 3, dtype=torch.float64)
    g_got = torch.autograd.grad((got * weight).sum(), [anchor, rows])
    g_want = torch.autograd.grad((want * weight).sum(), [anchor, rows])
    for a, b in zip(g_got, g_want, strict=True):
        assert torch.allclose(a, b)
    assert torch.autograd.gradcheck(lambda a, r: similarity.gathered_dot(a, r, index), (anchor, rows))


# one example a block; blocks of 2, 2, 2, 1 examples (48 bytes an example); one block
@pytest.mark.parametrize("block_bytes", [1, 2 * 48, 2**20])
def test_gathered_rows_in_blocks_equal_one_gather_bit_for_bit(monkeypatch, block_bytes):
    torch.manual_seed(0)
    anchor, rows, index = torch.randn(7, 4), torch.randn(400, 4), torch.randint(0, 400, (7, 3))
    monkeypatch.setattr(similarity, "GATHER_BYTES", block_bytes)
    got = similarity.gathered_dot(anchor, rows, index)
    assert torch.equal(got, torch.linalg.vecdot(rows[index], anchor.unsqueeze(1)))


def test_gathered_dot_refuses_wrong_ranks():
    with pytest.raises(ValueError, match="index"):
        similarity.gathered_dot(torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("n_rows", [8, 600])  # both forward paths of the gathered dot
def test_cosine_to_rows_values_and_gradients_equal_autograd_through_normalize(n_rows):
    torch.manual_seed(2)
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    table = torch.randn(n_rows, 4, dtype=torch.float64)
    table[3] = 1e-10  # a row whose norm is clamped at eps: its gradient is g / eps, not the projected one
    table.requires_grad_(True)
    index = torch.randint(0, n_rows, (5, 3))
    index[0, 0] = index[1, 2] = 3
    got = similarity.cosine_to_rows(x, table, index, eps=1e-8)
    want = (F.normalize(x, dim=-1, eps=1e-8).unsqueeze(1) * F.normalize(table, dim=-1, eps=1e-8)[index]).sum(-1)
    assert torch.allclose(got, want)
    weight = torch.randn(5, 3, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad((got * weight).sum(), [x, table]),
                    torch.autograd.grad((want * weight).sum(), [x, table]), strict=True):
        assert torch.allclose(a, b)
    assert torch.autograd.gradcheck(lambda a, t: similarity.cosine_to_rows(a, t, index, eps=1e-3), (x, table))


def test_cooccurrence_on_table_rows_equals_the_gathered_embeddings():
    torch.manual_seed(1)
    table = torch.randn(20, 6, requires_grad=True)
    e = torch.randn(4, 6, requires_grad=True)
    pos, neg = torch.randint(0, 20, (4, 2)), torch.randint(0, 20, (4, 5))
    for inc in (False, True):
        got = losses.cooccurrence_of_items(e, table, pos, neg, 0.1, inc)
        want = losses.cooccurrence(e, table[pos], table[neg], 0.1, inc)
        assert torch.allclose(got, want, atol=1e-5)
        g_got = torch.autograd.grad(got.sum(), [e, table])
        g_want = torch.autograd.grad(want.sum(), [e, table])
        for a, b in zip(g_got, g_want, strict=True):
            assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("image", [True, False])
def test_views_of_a_batch_equal_each_item_encoded_alone(image):
    _, nets, *_ = build(tiny_dataset(image=image))
    nets.eval()
    items = torch.tensor([3, 1, 3, 3, 7, 1, 0])
    batch = nets.views(items)
    for b, item in enumerate(items.tolist()):
        alone = nets.views(torch.tensor([item]))
        assert torch.allclose(batch.mu[:, b], alone.mu[:, 0], atol=1e-6)
        assert torch.allclose(batch.logvar[:, b], alone.logvar[:, 0], atol=1e-6)
        assert torch.allclose(batch.mu_com[b], alone.mu_com[0], atol=1e-6)
        for r_batch, r_alone in zip(batch.raw, alone.raw, strict=True):
            assert torch.allclose(r_batch[b], r_alone[0], atol=1e-6)


def test_content_dropout_draws_one_mask_per_distinct_item_at_the_configured_rate():
    _, nets, *_ = build(tiny_dataset(), content_dropout=0.5)
    nets.train()
    items = torch.tensor([2, 2, 2, 5, 5, 9])
    views = nets.views(items)
    raw = views.raw[0]
    assert torch.equal(raw[0], raw[1]) and torch.equal(raw[1], raw[2]) and torch.equal(raw[3], raw[4])
    x = torch.ones(4000, 50)
    kept = (nets.content_dropout(x) != 0).float().mean()
    assert abs(float(kept) - 0.5) < 0.01  # Bernoulli(1 − rate) mask
    assert torch.allclose(nets.content_dropout(x).mean(), torch.tensor(1.0), atol=0.02)  # inverted: mean kept


def _mean_loss(nets, batch, draws: int = 300) -> tuple[float, float]:
    """The mean of the plain loss over ``draws`` draws of its noise (seeded) and the standard error of that mean."""
    torch.manual_seed(0)
    with torch.no_grad():
        values = torch.stack([plain_loss(nets, batch) for _ in range(draws)])
    return float(values.mean()), float(values.std() / len(values) ** 0.5)


def _assert_same_mean(means: dict[str, tuple[float, float]]) -> None:
    """Two estimators of one expected loss agree within four standard errors of their difference."""
    (m1, s1), (m2, s2) = means.values()
    assert abs(m1 - m2) < 4 * (s1**2 + s2**2) ** 0.5, means


def test_the_mean_loss_is_that_of_one_mask_per_example():
    """Per-item masks change which examples share a draw, not the expected loss: the mean of the plain loss over many
    draws equals the mean with a mask per example (the views of each example encoded on its own), within noise."""
    ds = tiny_dataset()
    _, nets, _, _, batch = build(ds, content_dropout=0.5, id_dropout=0.5)
    nets.train()
    per_item = nets.views

    def per_example(items):  # the encoder pass of every example on its own: the old per-triple masks
        mu, logvar, present, raws, mu_com, logvar_com = nets.item_views(items)
        has_id = nets.id_present(len(items), items.device) if nets.config.dropped_id == "cold" else None
        return Views(mu, logvar, present, raws, mu_com, logvar_com, has_id, items=items)

    means = {}
    for name, views in (("per item", per_item), ("per example", per_example)):
        nets.views = views
        means[name] = _mean_loss(nets, batch)
    _assert_same_mean(means)


def test_views_drawn_per_item_keep_the_expected_loss_and_draw_once_per_item():
    """``view_draws = item`` shares an item's view draws among its examples: the mean loss over many draws is that of
    a draw per example (the KLs are analytic, each example's marginal is unchanged), within noise; the examples of
    one item hold the same draw, and the view sites have one row per distinct item."""
    import dataclasses

    ds = tiny_dataset()
    _, nets, model, guide, batch = build(ds)
    nets.train()
    means = {}
    for draws in ("triple", "item"):
        nets.config = dataclasses.replace(nets.config, view_draws=draws)
        means[draws] = _mean_loss(nets, batch)
    _assert_same_mean(means)
    views = nets.views(batch.items)
    trace = pyro.poutine.trace(guide).get_trace(batch, views)
    z_a, distinct = trace.nodes["z_a"]["value"], len(views.distinct)
    assert z_a.shape[0] == distinct < len(batch.items)
    assert trace.nodes["z_a"]["scale"].sum() == pytest.approx(batch.size)  # each item weighs its examples (× N / B)
    model_trace = pyro.poutine.trace(pyro.poutine.replay(model, trace=trace)).get_trace(batch, views)
    assert model_trace.nodes["z"]["value"].shape[0] == len(batch.items)


def test_a_step_computes_the_content_path_prior_scale_and_user_lookup_once():
    from m2vae_pyro.m2vae import M2VAE

    model = M2VAE(tiny_dataset(), Config().replace(preset="default").replace(**SMALL, threshold=None))  # version 3
    nets = model.nets
    trainer = model.trainer(progress=False)
    calls = {"content_mean": 0, "prior": 0, "user table": 0}
    content_mean, prior_head, users = nets.decoder.content_mean, nets.prior.head.forward, nets.user_emb.forward

    def count(name, fn):
        def counted(*a, **k):
            calls[name] += 1
            return fn(*a, **k)
        return counted

    nets.decoder.content_mean = count("content_mean", content_mean)
    nets.prior.head.forward = count("prior", prior_head)
    nets.user_emb.forward = count("user table", users)  # each lookup adds a dense [n_users, d] gradient
    from m2vae_pyro.data import TripleBatch

    sampler = trainer.plan.sampler
    batch = TripleBatch.from_triples(sampler.sample(np.random.default_rng(0), n=16), len(sampler))
    weight_before = float(nets.scale_stats[2])
    trainer._step(batch)
    assert calls == {"content_mean": 1, "prior": 1, "user table": 1}
    momentum = nets.config.obs_noise_momentum
    assert np.isclose(float(nets.scale_stats[2]), momentum * weight_before + (1 - momentum))  # one update a step


@pytest.mark.parametrize("gates_shape, xs_shape", [((7, 2), (2, 7, 16)), ((100, 1, 2), (2, 1, 16))])
def test_mix_broadcasts_like_the_einsum_it_replaced(gates_shape, xs_shape):
    """Eq. 14 as a broadcast product: the batch axes of gates and views align from the right, so a vectorised particle
    axis on the gates alone (the posterior analysis draws 100 at once) broadcasts as the einsum's ``...`` did."""
    from m2vae_pyro.nn.experts import mix

    torch.manual_seed(0)
    gates, xs = torch.rand(gates_shape), torch.randn(xs_shape)
    assert torch.allclose(mix(gates, xs), torch.einsum("...m,m...d->...d", gates, xs), atol=1e-6)


@pytest.mark.parametrize("n, shape", [(30, (16, 5)), (10_000, (4, 3))])  # the mask path and the sort path
def test_distinct_equals_torch_unique(n, shape):
    from m2vae_pyro.nn.similarity import distinct

    index = torch.randint(0, n, shape, generator=torch.Generator().manual_seed(0))
    rows, inverse = distinct(index, n)
    want_rows, want_inverse = torch.unique(index, return_inverse=True)
    assert torch.equal(rows, want_rows) and torch.equal(inverse, want_inverse)


def test_kl_on_log_variances_equals_torch_normal_kl():
    """The registered KL of two ``DiagonalNormal`` (and against ``N(0, I)``) has torch's Normal–Normal values and
    gradients; a Gaussian against the very same tensors is 0; Pyro's plate expansion keeps the class and log σ²."""
    import pyro.distributions as dist
    from torch.distributions import kl_divergence

    from m2vae_pyro.nn.gaussian import DiagonalNormal, normal, standard_normal

    torch.manual_seed(0)
    mq, lq, mp, lp = (torch.randn(6, 5, dtype=torch.float64, requires_grad=True) for _ in range(4))

    def torch_normal(m, lv):
        return dist.Normal(m, (0.5 * lv).exp()).to_event(1)

    standard = dist.Normal(torch.zeros(6, 5, dtype=torch.float64), 1.0).to_event(1)
    for got, want in ((kl_divergence(normal(mq, lq), normal(mp, lp)), kl_divergence(torch_normal(mq, lq),
                                                                                    torch_normal(mp, lp))),
                      (kl_divergence(normal(mq, lq), standard_normal(mq)), kl_divergence(torch_normal(mq, lq),
                                                                                         standard))):
        assert torch.allclose(got, want)
        params = [mq, lq, mp, lp]
        g_got = torch.autograd.grad(got.sum(), params, allow_unused=True, materialize_grads=True)
        g_want = torch.autograd.grad(want.sum(), params, allow_unused=True, materialize_grads=True)
        for a, b in zip(g_got, g_want, strict=True):
            assert torch.allclose(a, b)
    assert torch.equal(kl_divergence(normal(mq, lq), normal(mq, lq)), torch.zeros(6, dtype=torch.float64))
    wide = normal(mq, lq).expand([3, 6])
    assert isinstance(wide.base_dist, DiagonalNormal) and wide.base_dist.logvar.shape == (3, 6, 5)
    assert torch.allclose(kl_divergence(wide, normal(mp, lp).expand([3, 6]))[1],
                          kl_divergence(torch_normal(mq, lq), torch_normal(mp, lp)))


@pytest.mark.parametrize("weighted", [False, True])
def test_two_expert_poe_in_closed_form_equals_the_general_product(weighted):
    """Eq. 6–7 for two experts without a presence mask (Eq. 17's PoE) takes a closed form: it must give the general
    path's values and gradients (the general path runs when a mask is given; an all-true mask changes nothing)."""
    from m2vae_pyro.nn.experts import poe

    torch.manual_seed(0)
    mu = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
    logvar = (4 * torch.randn(2, 7, 5, dtype=torch.float64)).requires_grad_()
    weight = torch.tensor([0.3, 2.0], dtype=torch.float64) if weighted else None
    fast = poe(mu, logvar, weight=weight)
    general = poe(mu, logvar, torch.ones(2, 7, dtype=torch.bool), weight=weight)
    probe = torch.randn(7, 5, dtype=torch.float64)
    for a, b in zip(fast, general, strict=True):
        assert torch.allclose(a, b)
        g_a = torch.autograd.grad((a * probe).sum(), [mu, logvar], retain_graph=True, allow_unused=True,
                                  materialize_grads=True)
        g_b = torch.autograd.grad((b * probe).sum(), [mu, logvar], retain_graph=True, allow_unused=True,
                                  materialize_grads=True)
        assert all(torch.allclose(x, y) for x, y in zip(g_a, g_b, strict=True))


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_two_modality_gates_in_closed_form_equal_the_masked_softmax(tau):
    torch.manual_seed(3)
    user_v = [torch.randn(5, 4), torch.randn(5, 4)]
    items_v = [torch.randn(4, 4), torch.randn(4, 4)]
    present = torch.tensor([[True, True, False, False], [True, False, True, False]])  # both, first, second, none
    logits = torch.stack([user_v[m] @ items_v[m].T for m in range(2)])
    want = modality_gates(logits, present[:, None, :], tau, dim=0)
    got = two_modality_gates(user_v, items_v, present, tau)
    assert got.shape == want.shape == (2, 5, 4)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(got[:, :, 3], torch.zeros(2, 5))  # no content: all-zero gates, not NaN
