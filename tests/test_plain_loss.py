"""The Pyro ELBO of the model/guide pair equals the same loss written by hand, on the same noise."""

import pyro
import pytest
import torch
from test_model import build, inputs

from m2vae_pyro.config import PRESET_NAMES, VARIANTS
from m2vae_pyro.programs.elbo import MeanFieldELBO
from m2vae_pyro.programs.plain import plain_loss

from synthetic import tiny_dataset

SETTINGS = {**{v: VARIANTS[v] for v in ("full", "w/o-common", "weighted-poe", "w/o-dcl")},
            "paper-literal": PRESET_NAMES["paper-literal"], "combine=sum": {"combine": "sum"},
            "combine=poe": {"combine": "poe"}, "no id dropout": {"id_dropout": 0.0}, "vamp": {"prior": "vamp"},
            "learned z scale": {"z_scale": "learned"},
            "e_i as data, learned σ_obs, ELBO weight": {"id_target": "data", "obs_noise": "learned",
                                                        "recon_weight": 0.1, "kl_weight": 0.1},
            "gate_norm": {"gate_norm": True, "tau_gate": 0.5},
            "optimal σ_obs, cold path prior": {"id_target": "data", "obs_noise": "optimal", "cold_path": "prior",
                                               "combine": "poe"},
            "v3 residual": {"decoder_z": "residual", "prior": "residual", "cold_path": "prior", "dropped_id": "cold",
                            "id_target": "data", "obs_noise": "optimal", "combine": "poe"},
            "residual, dropped to the fused view": {"decoder_z": "residual", "dropped_id": "cold"},
            "v3 with decoder dropout": {"decoder_z": "residual", "prior": "residual", "cold_path": "prior",
                                        "dropped_id": "cold", "decoder_dropout": 0.5},
            "v3 with a mixture prior": {"decoder_z": "residual", "prior": "mixture", "cold_path": "prior",
                                        "dropped_id": "cold", "id_target": "data", "obs_noise": "optimal"},
            "views drawn per item": {"view_draws": "item"},
            "v3, views drawn per item": {"decoder_z": "residual", "prior": "residual", "cold_path": "prior",
                                         "dropped_id": "cold", "id_target": "data", "obs_noise": "optimal",
                                         "combine": "poe", "view_draws": "item"}}


@pytest.mark.parametrize("elbo_class", [pyro.infer.TraceMeanField_ELBO, MeanFieldELBO])  # Pyro's, and training's
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("image", [True, False])
def test_pyro_loss_equals_plain_loss(setting, image, elbo_class):
    ds = tiny_dataset(image=image)
    _, nets, model, guide, batch = build(ds, **SETTINGS[setting])
    elbo = elbo_class()(model, guide)
    for seed in range(3):
        torch.manual_seed(seed)
        with pyro.validation_enabled(elbo_class is not MeanFieldELBO):  # training's ELBO as training runs it
            pyro_value = elbo(*inputs(model, batch, 0.5))
        torch.manual_seed(seed)
        plain_value = plain_loss(nets, batch, 0.5)
        assert torch.allclose(pyro_value, plain_value, rtol=1e-5), (float(pyro_value), float(plain_value))
    grads = torch.autograd.grad(plain_value, [p for p in elbo.parameters() if p.requires_grad], allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
