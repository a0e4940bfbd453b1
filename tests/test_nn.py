"""Each equation against a hand-written float64 reference on random inputs."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from m2vae_pyro.nn import losses
from m2vae_pyro.nn.encoders import AttentionPooling
from m2vae_pyro.nn.experts import ViewGate, blend, mix, modality_gates, modality_logits, poe


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_poe_matches_reference_and_shrinks_variance():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 5, 7, generator=g), 2 * torch.randn(2, 5, 7, generator=g)
    eps = 1e-8
    t = 1 / (torch.exp(logvar) + eps)  # Eq. 6
    ref_mu = (mu * t).sum(0) / t.sum(0)  # Eq. 7
    ref_lv = torch.log(1 / t.sum(0))
    got_mu, got_lv = poe(mu, logvar, eps=eps)
    assert torch.allclose(got_mu, ref_mu, atol=1e-10) and torch.allclose(got_lv, ref_lv, atol=1e-10)
    assert (got_lv < logvar).all()  # the product is more certain than each expert


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=2, max_size=2), st.floats(-5, 5))
def test_poe_is_stable_for_extreme_logvars(logvars, mu):
    lv = torch.tensor(logvars).view(2, 1, 1)
    got_mu, got_lv = poe(torch.full_like(lv, mu), lv)
    assert torch.isfinite(got_mu).all() and torch.isfinite(got_lv).all()
    assert math.isclose(float(got_mu), mu, rel_tol=1e-9, abs_tol=1e-9)
    assert float(got_lv) <= math.log(math.exp(min(logvars)) + 1e-8) + 1e-12  # below each expert (with ε of Eq. 6)


def test_poe_absent_expert_is_ignored():
    mu, logvar = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    present = torch.tensor([[True] * 4, [True, False, True, False]])
    got_mu, got_lv = poe(mu, logvar, present)
    only_a = poe(mu[:1], logvar[:1])
    assert torch.allclose(got_mu[1], only_a[0][1]) and torch.allclose(got_lv[3], only_a[1][3])


def test_attention_pooling_is_per_item():
    pool = AttentionPooling(10, 8)
    attrs = torch.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6]])
    mask = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    out = pool(attrs, mask)
    other = pool(torch.tensor([[1, 2, 9], [7, 8, 9]]), torch.tensor([[True, True, False], [True, True, True]]))
    assert torch.allclose(out[0], other[0])  # item 0 unchanged when its batch-mates change
    assert torch.allclose(out[1], pool.embedding.weight[3])  # one attribute → its embedding
    empty = pool(attrs[:1], torch.zeros(1, 3, dtype=torch.bool))
    assert torch.equal(empty, torch.zeros(1, 8))
    # reference: softmax over the item's own attributes
    emb = pool.embedding(attrs[2])
    w = torch.softmax(torch.tanh(pool.key(emb)) @ pool.query, 0)
    assert torch.allclose(out[2], (w[:, None] * emb).sum(0))


def test_gates_sum_to_one_and_respect_presence():
    logits = torch.randn(6, 2) * 5
    present = torch.tensor([[True, True]] * 5 + [[True, False]])
    g = modality_gates(logits, present, tau=0.7)
    assert torch.allclose(g.sum(-1), torch.ones(6))
    assert torch.equal(g[5], torch.tensor([1.0, 0.0]))
    assert torch.allclose(g[0], torch.softmax(logits[0] / 0.7, 0))  # Eq. 13
    u, z, zc, w = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 5), torch.randn(5)
    ref = torch.stack([(u[i] * z[i] * zc[i] * w).sum() for i in range(4)])
    assert torch.allclose(modality_logits(u, z, zc, w), ref)  # Eq. 12
    xs = torch.randn(2, 6, 3)
    assert torch.allclose(mix(g, xs), g[:, :1] * xs[0] + g[:, 1:] * xs[1])  # Eq. 14
    alpha = ViewGate(5)(torch.randn(6, 5))
    assert ((alpha > 0) & (alpha < 1)).all() and alpha.shape == (6,)
    a, b = torch.randn(6, 3), torch.randn(6, 3)
    assert torch.allclose(blend(alpha, a, b), alpha[:, None] * a + (1 - alpha[:, None]) * b)  # Eq. 16


def _cos(x, y):
    return (x @ y) / (x.norm() * y.norm())


def test_dcl_forms_against_reference():
    z_v, v, z_com = torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6)
    tau = 0.5
    for i in range(4):
        sims = torch.stack([_cos(z_v[i], z_com[j]) / tau for j in range(4)])
        pos = _cos(z_v[i], v[i]) / tau
        literal = -torch.log(torch.exp(pos) / torch.exp(sims.sum()))  # Eq. 9 as printed
        infonce = -torch.log(torch.exp(pos) / torch.exp(sims).sum())
        pairwise = -torch.log(torch.exp(pos) / torch.exp(sims[i]))
        assert torch.isclose(losses.disentangle_view(z_v, v, z_com, tau, "literal")[i], literal)
        assert torch.isclose(losses.disentangle_view(z_v, v, z_com, tau, "infonce")[i], infonce)
        assert torch.isclose(losses.disentangle_view(z_v, v, z_com, tau, "pairwise")[i], pairwise)
    two = losses.disentangle([(z_v, v, None), (z_com, v, torch.tensor([1.0, 0, 1, 0]))], z_com, tau)
    first = losses.disentangle_view(z_v, v, z_com, tau)
    second = losses.disentangle_view(z_com, v, z_com, tau) * torch.tensor([1.0, 0, 1, 0])
    assert torch.allclose(two, first + second)  # Eq. 10


def test_cooccurrence_and_bpr_against_reference():
    e, pos, neg = torch.randn(3, 5), torch.randn(3, 2, 5), torch.randn(3, 4, 5)
    got = losses.cooccurrence(e, pos, neg)
    got_inc = losses.cooccurrence(e, pos, neg, include_positive=True)
    for b in range(3):
        den = sum(torch.exp(_cos(e[b], neg[b, j])) for j in range(4))
        ref = torch.stack([-torch.log(torch.exp(_cos(e[b], pos[b, p])) / den) for p in range(2)]).mean()  # Eq. 20
        ref_inc = torch.stack([-torch.log(torch.exp(_cos(e[b], pos[b, p])) / (den + torch.exp(_cos(e[b], pos[b, p]))))
                               for p in range(2)]).mean()
        assert torch.isclose(got[b], ref) and torch.isclose(got_inc[b], ref_inc)
    u, un = torch.randn(3, 5), torch.randn(3, 5)
    ref = torch.stack([-torch.log(torch.sigmoid(e[b] @ u[b] - e[b] @ un[b])) for b in range(3)])  # Eq. 25
    assert torch.allclose(losses.bpr(e, u, un), ref)


@pytest.mark.parametrize("image", [True, False])
def test_content_linear_is_a_linear_layer_on_dense_content(image):
    """The sparse read of the attribute block gives ``nn.Linear`` on ``dense_content``: the same initial weights,
    outputs and gradients, for every item, a subset with repeats, and a 2-d index (items without attributes or
    without an image included)."""
    from m2vae_pyro.nn.content import ContentLinear, dense_content

    from synthetic import tiny_dataset

    torch.set_default_dtype(torch.float32)  # content is float32, as the baselines read it
    ds = tiny_dataset(image=image)
    torch.manual_seed(3)
    sparse = ContentLinear(ds, 5)
    torch.manual_seed(3)
    dense = torch.nn.Linear(dense_content(ds).shape[1], 5)
    assert torch.equal(sparse.weight, dense.weight) and torch.equal(sparse.bias, dense.bias)
    x = dense_content(ds)
    torch.testing.assert_close(sparse(), dense(x))
    items = torch.tensor([[2, 0], [1, 0], [7, 29]])
    out_s, out_d = sparse(items), dense(x[items])
    assert out_s.shape == (3, 2, 5)
    torch.testing.assert_close(out_s, out_d)
    grad = torch.randn(3, 2, 5)
    (out_s * grad).sum().backward(), (out_d * grad).sum().backward()
    torch.testing.assert_close(sparse.weight.grad, dense.weight.grad)
    torch.testing.assert_close(sparse.bias.grad, dense.bias.grad)
