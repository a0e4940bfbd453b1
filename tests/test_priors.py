"""Swappable priors: each trains with the same guide, and the KL it contributes matches a Monte-Carlo estimate."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine

from m2vae_pyro.config import Config
from m2vae_pyro.data import TripleBatch, TripleSampler, cold_start_split
from m2vae_pyro.module.networks import M2VAENetworks
from m2vae_pyro.module.priors import PRIORS, kl_term, make_prior
from m2vae_pyro.programs import programs

from synthetic import tiny_dataset

SMALL = dict(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=16)


def _trained(name: str, steps: int = 5):
    ds = tiny_dataset()
    cfg = Config().replace(**SMALL, prior=name)
    nets = M2VAENetworks(ds, cfg)
    model, guide = programs(nets)
    split = cold_start_split(ds, seed=0, threshold=None)
    sampler = TripleSampler(split, ds.n_users, ds.n_items, cfg.c_p, cfg.c_n)
    batch = TripleBatch.from_triples(sampler.sample(np.random.default_rng(0), n=16), len(sampler))
    elbo = pyro.infer.TraceMeanField_ELBO()(model, guide)
    optim = torch.optim.Adam(elbo.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = elbo(batch, nets.views(batch.items))
        assert torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model, guide, batch


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_prior_kl_matches_monte_carlo(name):
    model, guide, batch = _trained(name)
    with torch.no_grad():
        args = batch, model.nets.views(batch.items)
        guide_tr = poutine.trace(guide).get_trace(*args)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args)
        q, p = guide_tr.nodes["z"]["fn"], model_tr.nodes["z"]["fn"]
        z = q.sample((20000,))
        mc = (q.log_prob(z) - p.log_prob(z)).mean(0)  # [B]
        kl = torch.stack([kl_term(q, p, z[s]) for s in range(2000)]).mean(0)  # what the ELBO uses, averaged
    assert mc.shape == (len(batch.items),)
    assert (mc > -1e-3).all()  # a KL is never negative
    assert torch.allclose(kl, mc, rtol=0.05, atol=0.05), (kl - mc).abs().max()


@pytest.mark.parametrize("name", ["content", "mixture", "vamp"])
def test_learned_prior_parameters_are_trained_and_saved(name):
    model, _, _ = _trained(name)
    own = [k for k in model.state_dict() if k.startswith("nets.prior.")]
    assert own, "the prior's parameters must be part of the model's state (checkpoints, resume)"
    fresh = make_prior(name, model.nets)
    moved = [not torch.equal(v, fresh.state_dict()[k.removeprefix("nets.prior.")])
             for k, v in model.state_dict().items() if k.startswith("nets.prior.") and v.is_floating_point()]
    assert any(moved)


def test_unknown_prior_is_named():
    with pytest.raises(Exception, match="vamp"):
        Config().replace(prior="gamma")
