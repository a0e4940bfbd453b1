"""The calibration metrics of ``analysis/calibration.py`` on cases with a known answer, and on a trained model."""

from __future__ import annotations

import numpy as np
import pytest

from m2vae_pyro.analysis.calibration import (
    bootstrap_spearman,
    by_quartile,
    calibrate,
    central_coverage,
    noise_to_signal,
    spearman,
)
from m2vae_pyro.config import Config
from m2vae_pyro.m2vae import M2VAE

from synthetic import tiny_dataset


def test_a_predictive_equal_to_the_truth_covers_90_percent():
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.1, 3.0, size=(400, 1)) * np.ones((1, 16))  # heteroscedastic, known
    truth = rng.normal(size=(400, 16)) * scale
    predictive = rng.normal(size=(400, 400, 16)) * scale  # the truth's own distribution, 400 draws
    cov = central_coverage(predictive, truth, 0.9).mean()
    # sampling error of 6,400 Bernoulli(0.9) coordinates ≈ 0.004, plus the quantiles' own error from 400 draws
    assert cov == pytest.approx(0.9, abs=0.015)


def test_a_too_narrow_predictive_undercovers():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(300, 8))
    assert central_coverage(rng.normal(size=(300, 300, 8)) * 0.5, truth).mean() < 0.65


def test_a_constant_width_predicts_no_error():
    rng = np.random.default_rng(2)
    error = rng.exponential(size=500)
    width = np.full(500, 0.7) + rng.normal(scale=1e-9, size=500)  # constant up to float noise
    assert abs(spearman(width, error)) < 0.12
    informative = error * rng.lognormal(sigma=0.3, size=500)
    assert spearman(informative, error) > 0.8


def test_spearman_is_pandas_rank_correlation_and_its_interval_covers_it():
    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    import pandas as pd

    assert spearman(x, y) == pytest.approx(pd.Series(x).corr(pd.Series(y), method="spearman"))
    rho, lo, hi = bootstrap_spearman(x, y, n_boot=300)
    assert lo < rho < hi and hi - lo < 0.3
    assert np.isnan(spearman(np.ones(10), y[:10]))


def test_quartiles_split_the_items_and_order_a_planted_trend():
    rng = np.random.default_rng(4)
    u = rng.uniform(size=400)
    value = (rng.uniform(size=400) > u).astype(float)  # hit rate falls with uncertainty
    q = by_quartile(u, value, n_boot=200)
    assert q["n"].sum() == 400 and list(q["quartile"]) == ["Q1", "Q2", "Q3", "Q4"]
    assert q["mean"].is_monotonic_decreasing and (q["lo"] <= q["mean"]).all() and (q["mean"] <= q["hi"]).all()


def test_noise_to_signal_matches_its_definition():
    rng = np.random.default_rng(5)
    e = rng.normal(size=(20, 7, 4))
    users = rng.normal(size=(9, 4))
    noise, signal = noise_to_signal(e, users, chunk=3)
    scores = np.einsum("sid,ud->siu", e, users)
    assert np.allclose(noise, scores.std(0, ddof=1).mean(-1))
    assert np.allclose(signal, scores.mean(0).std(-1))
    n2, s2 = noise_to_signal(3.0 * e, users)  # scale-free ratio
    assert np.allclose(n2 / s2, noise / signal)


def test_calibrate_on_a_trained_model_gives_every_figure():
    ds = tiny_dataset()
    m = M2VAE(ds, Config().replace(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=1, threshold=None))
    m.fit(progress=False)
    c = calibrate(m, num_samples=12, min_positives=1, n_boot=50)
    f = c.figures
    for key in ("cold_warm_sd", "spearman_uncertainty_ndcg", "coverage90", "spearman_sd_error", "mse_over_variance"):
        assert np.isfinite(f[key]), key
    assert 0.0 <= f["coverage90"] <= 1.0
    assert c.last_line().startswith("calibration: cold/warm sd ")
    assert len(c.cold_items) == f["n_cold_items"] and (c.pseudo_cold["positives"] >= 1).all()
