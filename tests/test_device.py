"""``--device cuda``: training and exact scoring on a GPU agree with the CPU (runs only where CUDA is present)."""

from __future__ import annotations

import pytest
import torch

from m2vae_pyro.config import Config
from m2vae_pyro.m2vae import M2VAE

from synthetic import tiny_dataset

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SMALL = dict(d=16, decoder_hidden=32, c_p=2, c_n=3, batch_size=64, epochs=2, threshold=None)


@cuda
def test_training_on_cuda_and_scores_equal_to_cpu(tmp_path):
    ds = tiny_dataset()
    gpu = M2VAE(ds, Config().replace(**SMALL), device="cuda")
    history = gpu.fit(progress=False)
    assert next(gpu.model.parameters()).is_cuda and len(history.rows) == 2
    gpu.save(tmp_path / "m.pt")
    cpu = M2VAE.load(tmp_path / "m.pt", ds)
    users, items = torch.arange(ds.n_users), torch.arange(ds.n_items)
    a, b = gpu.score_indices(users, items), cpu.score_indices(users, items)
    assert a.device.type == "cpu" and torch.isfinite(a).all()
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert set(gpu.evaluate("test")) == set(cpu.evaluate("test"))
