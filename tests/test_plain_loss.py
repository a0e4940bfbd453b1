"""The Pyro ELBO of the model/guide pair equals the same loss written by hand, on the same noise."""

import pyro
import pytest
import torch
from test_model import build

from m2vae_pyro.config import VARIANTS
from m2vae_pyro.inference.plain import plain_loss

from synthetic import tiny_dataset


@pytest.mark.parametrize("variant", ["full", "w/o-common", "weighted-poe", "w/o-dcl"])
@pytest.mark.parametrize("image", [True, False])
def test_pyro_loss_equals_plain_loss(variant, image):
    ds = tiny_dataset(image=image)
    _, _, model, guide, batch = build(ds, **VARIANTS[variant])
    elbo = pyro.infer.TraceMeanField_ELBO()(model, guide)
    for seed in range(3):
        torch.manual_seed(seed)
        pyro_value = elbo(batch)
        torch.manual_seed(seed)
        plain_value = plain_loss(model, batch)
        assert torch.allclose(pyro_value, plain_value, rtol=1e-5), (float(pyro_value), float(plain_value))
    grads = torch.autograd.grad(plain_value, list(elbo.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
