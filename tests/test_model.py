"""The Pyro model/guide pair: sites and shapes, KL bookkeeping, variants, the exact chunked scorer."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine

from m2vae_pyro.config import FUSION_ONLY_VARIANTS, VARIANTS, Config, with_variant
from m2vae_pyro.data import TripleBatch, TripleSampler, cold_start_split
from m2vae_pyro.evaluation.scoring import embed_pairs, score_pairs
from m2vae_pyro.module.networks import M2VAENetworks
from m2vae_pyro.programs import programs

from synthetic import tiny_dataset

SMALL = dict(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=16)


def build(ds, **over):
    cfg = Config().replace(**(SMALL | over))
    nets = M2VAENetworks(ds, cfg)
    split = cold_start_split(ds, seed=0, threshold=None)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, cfg.c_p, cfg.c_n)
    batch = TripleBatch.from_triples(sampler.sample(np.random.default_rng(0), n=16), len(sampler))
    model, guide = programs(nets)
    return cfg, nets, model, guide, batch


def inputs(model, batch, kl_scale=1.0):
    """What the trainer hands both programs: the batch, its one encoder pass, the KL scale."""
    return batch, model.nets.views(batch.items), kl_scale


def traces(model, guide, batch, kl_scale=1.0):
    args = inputs(model, batch, kl_scale)
    g = poutine.trace(guide).get_trace(*args)
    m = poutine.trace(poutine.replay(model, trace=g)).get_trace(*args)
    return m, g


def test_sites_and_shapes():
    ds = tiny_dataset()
    cfg, nets, model, guide, batch = build(ds)
    m, g = traces(model, guide, batch)
    samples = {n: s for n, s in m.nodes.items() if s["type"] == "sample"}
    assert set(samples) == {"triples", "z_a", "z_c", "z_com", "z", "e_new", "e", "bpr", "bpr_warm", "dcl", "co"}
    for name in ("z_a", "z_c", "z_com", "z", "e"):
        assert samples[name]["value"].shape == (16, cfg.d)
        assert samples[name]["fn"].event_shape == (cfg.d,) and samples[name]["fn"].batch_shape == (16,)
    for name in ("bpr", "bpr_warm", "dcl", "co"):
        assert samples[name]["fn"].batch_shape == (16,)  # per-example factors inside the plate
    assert samples["e"]["is_observed"]
    guide_sites = {n for n, s in g.nodes.items() if s["type"] == "sample"}
    assert guide_sites == {"triples", "z_a", "z_c", "z_com", "z"}
    # everything is scaled by N / B through the one plate
    m.compute_log_prob()
    assert samples["z"]["scale"] == pytest.approx(batch.size / 16)


def test_z_com_adds_zero_kl():
    ds = tiny_dataset()
    _, _, model, guide, batch = build(ds)
    m, g = traces(model, guide, batch)
    kl = torch.distributions.kl_divergence(g.nodes["z_com"]["fn"], m.nodes["z_com"]["fn"])
    assert torch.allclose(kl, torch.zeros_like(kl), atol=1e-6)


def test_no_image_modality_and_missing_items_give_finite_loss():
    for ds in (tiny_dataset(image=False), tiny_dataset(image=True)):
        _, nets, model, guide, batch = build(ds)
        loss = pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide, *inputs(model, batch))
        assert torch.isfinite(loss)
        m, _ = traces(model, guide, batch)
        assert ("z_c" in m.nodes) == nets.has_image


def test_trace_elbo_agrees_with_mean_field():
    ds = tiny_dataset()
    _, _, model, guide, batch = build(ds)
    with torch.no_grad():
        args = inputs(model, batch)
        mf = torch.stack([pyro.infer.TraceMeanField_ELBO().differentiable_loss(model, guide, *args) for _ in range(60)])
        mc = torch.stack([pyro.infer.Trace_ELBO().differentiable_loss(model, guide, *args) for _ in range(60)])
    se = (mf.var() / len(mf) + mc.var() / len(mc)).sqrt()
    assert abs(mf.mean() - mc.mean()) < 4 * se + 1e-3 * abs(mf.mean())


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_trains(variant):
    ds = tiny_dataset()
    _, _, model, guide, batch = build(ds, **VARIANTS[variant])
    elbo = pyro.infer.TraceMeanField_ELBO()(model, guide)
    optim = torch.optim.Adam(elbo.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in elbo.parameters()]
    for _ in range(3):
        loss = elbo(*inputs(model, batch))
        assert torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, elbo.parameters()))


@pytest.mark.parametrize("variant", ["full", "w/o-common", "weighted-poe", "w/o-m-moe", "content", "moe", "poe",
                                     "mixture", "vamp", "standard", "z-only decoder", "paper-literal",
                                     "linear decoder", "residual decoder", "residual decoder, guide path"])
@pytest.mark.parametrize("image", [True, False])
def test_chunked_scores_equal_naive_per_pair_loop(variant, image):
    from m2vae_pyro.config import PRESET_NAMES

    ds = tiny_dataset(image=image)
    extra = {"z-only decoder": {"decoder_content": False, "latent_grad": "shared"},
             "paper-literal": PRESET_NAMES["paper-literal"],
             "linear decoder": {"decoder_hidden": 0},
             "residual decoder": {"decoder_z": "residual", "prior": "residual", "cold_path": "prior"},
             "residual decoder, guide path": {"decoder_z": "residual"}}
    # a prior's own mean only scores cold items on the prior cold path
    over = VARIANTS[variant] if variant in VARIANTS else extra.get(variant, {"prior": variant, "cold_path": "prior"})
    cfg, nets, model, guide, _ = build(ds, **over)
    nets.eval()
    users, items = torch.arange(12), torch.arange(ds.n_items)
    fast = score_pairs(nets, users, items, memory_mb=0)  # smallest chunks: one user at a time
    big = score_pairs(nets, users, items, memory_mb=64)
    with torch.no_grad():
        naive = torch.empty(len(users), ds.n_items)
        for u in range(len(users)):
            for i in range(ds.n_items):
                views = nets.views(items[i : i + 1])
                user = nets.user_emb(users[u : u + 1])
                z = views.mu
                loc = nets.cold_dist(views, z, views.mu_com, user).mean  # gates at the means
                naive[u, i] = nets.decode(loc, views)[0] @ user[0]
    assert torch.allclose(fast, naive, atol=1e-5) and torch.allclose(big, naive, atol=1e-5)
    e = embed_pairs(nets, users[:3], items[:4])
    with torch.no_grad():
        assert torch.allclose((e * nets.user_emb(users[:3])[:, None]).sum(-1), naive[:3, :4], atol=1e-5)


def test_scores_do_not_depend_on_the_tiling(monkeypatch):
    from m2vae_pyro.evaluation import scoring

    ds = tiny_dataset()
    _, nets, model, _, _ = build(ds)
    nets.eval()
    users, items = torch.arange(12), torch.arange(ds.n_items)
    one_by_one = score_pairs(nets, users, items, memory_mb=0)
    # five users per tile: blocks of 12 split into tiles 5 + 5 + 2, the last one a partial buffer
    monkeypatch.setattr(scoring, "TILE_BYTES", 4 * nets.decoder.z_in.out_features * ds.n_items * 5)
    tiled = score_pairs(nets, users, items, memory_mb=64)
    assert torch.allclose(tiled, one_by_one, atol=1e-6)


def test_per_user_gates_differ_between_users():
    ds = tiny_dataset()
    _, nets, _, _, _ = build(ds)
    gates = nets.pair_modality_weights(nets.views(torch.arange(ds.n_items)), nets.user_emb(torch.arange(5)))
    assert gates.shape == (2, 5, ds.n_items)
    gates = gates.permute(1, 2, 0)  # [user, item, modality]
    assert torch.allclose(gates[:, 3:].sum(-1), torch.ones(5, ds.n_items - 3))
    assert torch.equal(gates[:, 0], torch.tensor([[0.0, 1.0]] * 5))  # item 0 has no attribute
    assert torch.equal(gates[:, 2], torch.zeros(5, 2))  # item 2 has no content: no unique view
    assert not torch.allclose(gates[0], gates[1])
    assert torch.equal(gates[:, 1], torch.tensor([[1.0, 0.0]] * 5))  # item 1 has no image


def test_numeric_edges_never_give_nan():
    """All-zero image features, items without attributes or any content, a user with one interaction."""
    ds = tiny_dataset()
    img = ds.modalities["image"]
    ds.set_features("image", np.zeros_like(img.features), img.present, origin="zeros")
    # user 0 keeps exactly one interaction
    keep = (ds.users != 0) | (np.arange(ds.n_interactions) == np.flatnonzero(ds.users == 0)[0])
    ds.users, ds.items = ds.users[keep], ds.items[keep]
    _, nets, model, guide, batch = build(ds)
    elbo = pyro.infer.TraceMeanField_ELBO()(model, guide)
    optim = torch.optim.Adam(elbo.parameters(), lr=1e-2)
    for _ in range(5):
        loss = elbo(*inputs(model, batch))
        assert torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in elbo.parameters() if p.grad is not None)
        optim.step()
    # extreme log-variances from the encoders are clamped before they reach a distribution
    with torch.no_grad():
        nets.attr_head.logvar.bias.fill_(1e4)
        nets.image_head.logvar.bias.fill_(-1e4)
    assert torch.isfinite(elbo(*inputs(model, batch)))
    scores = score_pairs(nets, torch.arange(ds.n_users), torch.arange(ds.n_items))
    assert torch.isfinite(scores).all()


def test_one_encoder_pass_per_step_handed_to_both_programs():
    from m2vae_pyro.m2vae import M2VAE

    model = M2VAE(tiny_dataset(), Config().replace(**SMALL, threshold=None))
    trainer = model.trainer(progress=False)
    calls = []
    original = model.nets.views
    model.nets.views = lambda items: calls.append(1) or original(items)
    sampler = trainer.plan.sampler
    batch = TripleBatch.from_triples(sampler.sample(np.random.default_rng(0), n=16), len(sampler))
    for step in (1, 2):  # a fresh pass after every optimiser step: nothing is cached between steps
        trainer._step(batch)
        assert len(calls) == step


@pytest.mark.parametrize("field, value, expected", [("decoder_content", "False", "bool"), ("self_gate", 1, "bool"),
                                                    ("d", 1.5, "int"), ("lr", "fast", "float")])
def test_config_rejects_a_value_of_the_wrong_type(field, value, expected):
    """``--set decoder_content=False`` is a string to JSON: truthy, so it would silently keep Eq. 19 as it is."""
    from m2vae_pyro.data import DataError

    with pytest.raises(DataError, match=rf"config field {field} = .*expected {expected}"):
        Config().replace(**{field: value})
    assert Config().replace(lr=1, sigma_obs=None).lr == 1  # an int for a float, and None where allowed, are fine


def test_kl_weight_scales_the_latent_sites_with_the_warmup():
    from m2vae_pyro.data import DataError
    from m2vae_pyro.m2vae import M2VAE

    ds = tiny_dataset()
    model = M2VAE(ds, Config().replace(**SMALL, threshold=None, kl_weight=0.25, kl_warmup_steps=4))
    trainer = model.trainer(progress=False)
    sampler = trainer.plan.sampler
    batch = TripleBatch.from_triples(sampler.sample(np.random.default_rng(0), n=16), len(sampler))
    seen = []
    loss_fn = trainer.plan.loss_fn
    trainer.plan.loss_fn = lambda b, views, kl_scale: seen.append(kl_scale) or loss_fn(b, views, kl_scale)
    trainer._step(batch)  # step 0 of a 4-step warm-up
    assert seen == [pytest.approx(0.25 * 0.25)]  # an argument of both programs, never state of a module
    m, g = traces(model.model, model.guide, batch, kl_scale=seen[0])
    m.compute_log_prob()
    plate_scale = batch.size / 16
    for name in ("z_a", "z", "z_com"):
        assert m.nodes[name]["scale"] == g.nodes[name]["scale"] == pytest.approx(seen[0] * plate_scale)
    assert m.nodes["e"]["scale"] == pytest.approx(plate_scale)  # the likelihood and the factors are not warmed up
    with pytest.raises(DataError, match="kl_weight must be > 0"):
        Config().replace(kl_weight=0.0)
    with pytest.raises(DataError, match="kl_weight must be > 0"):
        Config().replace(kl_weight=-1.0)


def _as_variant(ds, cfg, nets, variant):
    """The networks of ``variant`` holding ``nets``' weights, so that only the variant's switch differs."""
    other = M2VAENetworks(ds, with_variant(cfg, variant))
    other.load_state_dict(nets.state_dict())
    return other


def test_fusion_variants_coincide_with_one_modality():
    # With attributes only (the Amazon sets here) the common view of Eq. 6-7 is the attribute view itself and
    # the one modality gate of Eq. 13 is 1, so Eq. 16 returns that view whatever α, gates or self-gate do.
    ds = tiny_dataset(image=False)
    cfg, nets, *_ = build(ds)
    items = torch.tensor([i for i in range(ds.n_items) if i not in (0, 2)])  # items with attributes
    users = torch.randn(len(items), cfg.d)
    views = nets.views(items)
    z = views.mu + torch.randn_like(views.mu)
    full = nets.fuse(views, z, views.mu_com, users)
    assert torch.allclose(full.mu, views.mu[0]) and torch.allclose(full.logvar, views.logvar[0], atol=1e-6)
    for variant in FUSION_ONLY_VARIANTS:
        other = _as_variant(ds, cfg, nets, variant)
        fused = other.fuse(other.views(items), z, views.mu_com, users)
        assert torch.allclose(fused.mu, full.mu) and torch.allclose(fused.logvar, full.logvar), variant
    two = tiny_dataset(image=True)  # with two modalities the same variants do change the fusion
    cfg2, nets2, *_ = build(two)
    items2 = torch.arange(3, two.n_items)  # items 0-2 lack a modality
    users2 = torch.randn(len(items2), cfg2.d)
    v2 = nets2.views(items2)
    full2 = nets2.fuse(v2, v2.mu, v2.mu_com, users2)
    for variant in ("w/o-m-moe", "w/o-v-moe"):
        fused2 = _as_variant(two, cfg2, nets2, variant).fuse(v2, v2.mu, v2.mu_com, users2)
        assert not torch.allclose(fused2.mu, full2.mu), variant


@pytest.mark.parametrize("combine", ["sum", "mean", "poe"])
def test_id_dropout_masks_the_id_expert(combine):
    ds = tiny_dataset()
    _, nets, _, _, batch = build(ds, id_dropout=0.5, combine=combine)
    views = nets.views(batch.items)
    user = nets.user_emb(batch.pos_users)
    fused = nets.fuse(views, views.mu, views.mu_com, user)
    has_id = torch.arange(len(batch.items)) % 2 == 0
    with torch.no_grad():
        q = nets.posterior_dist(views, fused, batch.items, has_id)
        cold = nets.cold_dist(views, views.mu, views.mu_com, user)  # the guide without the ID view
    assert torch.allclose(q.mean[~has_id], cold.mean[~has_id])
    assert torch.allclose(q.stddev[~has_id], cold.stddev[~has_id])
    assert not torch.allclose(q.mean[has_id], cold.mean[has_id])  # where the ID view is kept it moves the posterior
    nets.eval()
    assert nets.id_present(16, torch.device("cpu")) is None  # dropout only while training
    nets.train()
    torch.manual_seed(0)
    assert abs(float(nets.id_present(20000, torch.device("cpu")).float().mean()) - 0.5) < 0.02


@pytest.mark.parametrize("latent_grad", ["shared", "detached"])
def test_latent_grad_decides_whether_the_kl_trains_the_raw_content_encoders(latent_grad):
    ds = tiny_dataset()
    _, nets, *_ = build(ds, latent_grad=latent_grad)
    views = nets.views(torch.arange(3, ds.n_items))
    kl = sum(torch.distributions.kl_divergence(nets.view_posterior_dist(views, m), nets.view_prior_dist(views, m)).sum()
             for m in range(nets.n_modalities))  # Eq. 23
    kl = kl + nets.prior_dist(views, views.mu, views.mu_com, None).mean.sum()  # the content prior of Eq. 22
    kl.backward()
    raw = [nets.attr_pool.embedding.weight.grad, nets.image_proj.weight.grad]
    reached = [g is not None and bool(g.abs().sum() > 0) for g in raw]
    assert reached == [latent_grad == "shared"] * 2
    assert nets.attr_head.mu.weight.grad.abs().sum() > 0  # the view heads learn either way


def test_e_i_as_data_stops_every_elbo_gradient_at_the_id_embedding():
    """``id_target = data``: neither the likelihood nor the ID view moves e_i; only the factors do."""
    import pyro

    from m2vae_pyro.programs.plain import plain_loss

    ds = tiny_dataset(image=True)
    for target, expect in (("shared", True), ("data", False)):
        _, nets, model, guide, batch = build(ds, id_target=target, bpr_warm=0.0, beta_co=0.0, obs_noise="learned")
        torch.manual_seed(0)
        loss = plain_loss(nets, batch, 1.0)
        (grad,) = torch.autograd.grad(loss, [nets.item_emb.weight], allow_unused=True)
        assert (grad is not None and bool(grad.abs().sum() > 0)) is expect, target
        sigma = torch.autograd.grad(plain_loss(nets, batch, 1.0), [nets.log_sigma_obs])[0]
        assert sigma.abs().sum() > 0  # the learned σ_obs of Eq. 24 is fitted by the ELBO
        pyro.clear_param_store()


def test_gate_norm_gives_order_one_gate_logits_at_initialisation():
    from m2vae_pyro.nn.experts import modality_logits

    torch.manual_seed(0)
    u, z, zc = 0.1 * torch.randn(64, 32), 0.01 * torch.randn(64, 32), 0.01 * torch.randn(64, 32)
    w = torch.randn(32) / 32**0.5
    assert modality_logits(u, z, zc, w).abs().max() < 1e-3  # as printed: ~1e-5, the gates sit at 1/M
    assert modality_logits(u, z, zc, w, normalise=True).std() > 0.3


def test_optimal_obs_noise_is_the_batch_residual_and_its_running_average():
    ds = tiny_dataset(image=True)
    _, nets, model, guide, batch = build(ds, obs_noise="optimal", obs_noise_momentum=0.5)
    e_new, target = torch.randn(16, 8) * 0.3, torch.zeros(16, 8)
    nets.train()
    scale = nets.likelihood_dist(e_new, target).base_dist.scale
    assert torch.allclose(scale**2, (e_new**2).mean(0), rtol=1e-5)  # σ-VAE's analytic σ per dimension
    nets.likelihood_dist(2 * e_new, target)
    nets.eval()
    expect = (0.5 * 0.5 * (e_new**2).mean(0) + 0.5 * (4 * e_new**2).mean(0)) / (0.5 * 0.5 + 0.5)
    assert torch.allclose(nets.likelihood_dist(e_new).base_dist.scale ** 2, expect, rtol=1e-5)


def test_dropped_id_cold_keeps_the_fused_view_beside_the_id_and_the_held_prior_without_it():
    ds = tiny_dataset(image=True)
    _, nets, model, guide, batch = build(ds, decoder_z="residual", prior="residual", cold_path="prior",
                                         dropped_id="cold", combine="poe", id_dropout=0.5)
    nets.train()
    views = nets.views(batch.items)
    has_id = views.id_present
    assert has_id is not None and has_id.any() and (~has_id).any()
    user = nets.user_emb(batch.pos_users)
    fused = nets.fuse(views, views.mu, views.mu_com, user)
    prior = nets.prior_dist(views, views.mu, views.mu_com, user)
    q = nets.posterior_dist(views, fused, batch.items, has_id, prior).base_dist
    p = prior.base_dist
    assert torch.allclose(q.loc[~has_id], p.loc[~has_id]) and torch.allclose(q.scale[~has_id], p.scale[~has_id])
    mu_e, lv_e = nets.id_view(views)
    from m2vae_pyro.nn.experts import poe

    mu, _ = poe(torch.stack([mu_e, fused.mu]), torch.stack([lv_e, fused.logvar]))
    assert torch.allclose(q.loc[has_id], mu[has_id], atol=1e-6)
