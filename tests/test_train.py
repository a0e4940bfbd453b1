"""Training end to end: the CLI on real ML-100K, early stopping, run files, numerical safety."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from m2vae_pyro.cli import main
from m2vae_pyro.config import Config
from m2vae_pyro.data import TripleSampler, cold_start_split
from m2vae_pyro.m2vae import M2VAE
from m2vae_pyro.train.errors import TrainingError
from m2vae_pyro.train.svi import SVIPlan
from m2vae_pyro.train.trainer import fit

from synthetic import tiny_dataset


@pytest.fixture(scope="module")
def trained_run(ml100k_images, data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "a"
    # lr 3e-3 gets there in fewer epochs than the default 1e-3 (validation HR@5 0.207 by epoch 6, seed 0)
    assert main(["train", "ml-100k", "--data-dir", str(data_dir), "--out", str(run), "--seed", "0",
                 "--epochs", "8", "--set", "lr=0.003"]) == 0
    assert main(["evaluate", str(run)]) == 0
    return run


@pytest.mark.slow
def test_train_writes_run_files(trained_run):
    for name in ("config.json", "split.csv", "checkpoint.pt", "history.csv", "curves.png", "metrics.json"):
        assert (trained_run / name).is_file(), name
    history = pd.read_csv(trained_run / "history.csv")
    assert {"elbo", "bpr", "dcl", "co", "val_hr@5"} <= set(history.columns)
    assert history["bpr"].iloc[-1] < history["bpr"].iloc[0]  # it learns
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test", "baselines"}
    assert {"userpop", "random", "content_activity"} <= set(metrics["baselines"])
    for k in (5, 10, 20):
        for m in ("hr", "ndcg", "ndcg_std"):
            assert 0.0 <= metrics["test"][f"{m}@{k}"] <= 1.0


@pytest.mark.slow
def test_short_training_beats_user_activity_on_validation(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["validation"]["hr@5"] > metrics["baselines"]["userpop"]["validation"]["hr@5"]
    assert metrics["validation"]["hr@5"] > 3 * metrics["baselines"]["random"]["validation"]["hr@5"]


@pytest.mark.slow
def test_run_directory_is_not_overwritten(trained_run, data_dir, capsys):
    before = (trained_run / "checkpoint.pt").stat().st_mtime_ns
    assert main(["train", "ml-100k", "--data-dir", str(data_dir), "--out", str(trained_run), "--epochs", "1"]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert (trained_run / "checkpoint.pt").stat().st_mtime_ns == before


@pytest.mark.slow
def test_reloaded_model_scores_identically(trained_run, ml100k_images):
    ds, _ = ml100k_images
    model = M2VAE.load(trained_run / "checkpoint.pt", ds)
    again = M2VAE.load(trained_run / "checkpoint.pt", ds)
    users, items = torch.arange(20), torch.from_numpy(model.split.items("test")[:7])
    assert torch.equal(model.score_indices(users, items), again.score_indices(users, items))
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert model.evaluate("test")["hr@5"] == pytest.approx(metrics["test"]["hr@5"])


def test_nan_loss_stops_with_term_and_step():
    ds = tiny_dataset()
    cfg = Config(d=8, decoder_hidden=16, c_p=2, c_n=3, batch_size=32, epochs=3, seed=0)
    model = M2VAE(ds, cfg, cold_start_split(ds, 0, threshold=None))
    sampler = TripleSampler(model.split, ds.n_users, ds.n_items, cfg.c_p, cfg.c_n)
    calls = {"n": 0}
    saved = {}

    def poison(module, inputs, output):  # ID embeddings turn NaN after ~20 steps (4 lookups a step)
        calls["n"] += 1
        if calls["n"] >= 80:
            return output * float("nan")
        return output

    model.nets.item_emb.register_forward_hook(poison)
    with pytest.raises(TrainingError, match=r"loss term '(loss|elbo|co)' is nan at step \d"):
        fit(SVIPlan(model.model, model.guide, sampler, cfg, validate=lambda: 0.1), cfg,
            on_improve=lambda h: saved.setdefault("state", h.best_state), progress=False)
    assert "state" in saved and all(torch.isfinite(v).all() for v in saved["state"].values()
                                    if v.is_floating_point())


def test_config_toml_and_overrides(tmp_path, capsys):
    from m2vae_pyro.config import load_config

    toml = tmp_path / "c.toml"
    toml.write_text('lr = 0.005\ndcl = "pairwise"\nks = [5, 10]\n')
    cfg = load_config("amazon-sports", toml, variant="w/o-dcl", epochs=2)
    assert (cfg.lr, cfg.dcl, cfg.ks, cfg.alpha_dcl, cfg.c_p, cfg.c_n, cfg.epochs) == \
        (0.005, "pairwise", (5, 10), 0.0, 5, 20, 2)
    assert load_config("ml-20m").alpha_dcl == 10.0 and load_config("ml-100k").c_n == 40  # the paper's ML-20M preset
    # version 1's grid-search results (config.TUNED) apply to its preset only
    tuned = load_config("ml-100k", preset="paper-literal")
    assert (tuned.alpha_dcl, tuned.beta_co, tuned.sigma_obs, tuned.c_p) == (1.0, 0.01, 16.0, 10)
    assert (tuned.prior, tuned.combine, tuned.bpr_warm, tuned.id_dropout, tuned.image_norm) == \
        ("moe", "sum", 0.0, 0.0, "none")
    small = load_config("ml-latest-small", preset="paper-literal")  # σ_obs was not searched there
    assert (small.alpha_dcl, small.beta_co, small.sigma_obs) == (1.0, 0.01, None)
    v3 = load_config("ml-100k")
    assert (v3.preset, v3.prior, v3.combine, v3.cold_path, v3.decoder_z) == \
        ("default", "residual", "poe", "prior", "residual")
    v2 = load_config("ml-100k", preset="v2")
    assert (v2.preset, v2.prior, v2.combine, v2.cold_path, v2.decoder_z) == ("v2", "content", "mean", "guide", "mlp")
    assert (v2.beta_co, v2.content_dropout) == (0.01, 0.5)  # its ml-100k values, as version 3's
    toml.write_text('preset = "paper-literal"\nlr = 0.002\n')  # a TOML file may name the preset
    from_toml = load_config("ml-100k", toml)
    assert (from_toml.prior, from_toml.sigma_obs, from_toml.lr) == ("moe", 16.0, 0.002)
    assert load_config("ml-100k", toml, preset="v2").prior == "content"  # --preset wins over the file
    with pytest.raises(Exception, match="unknown preset 'v3'"):
        load_config("ml-100k", preset="v3")
    assert load_config("ml-100k", alpha_dcl=5.0).alpha_dcl == 5.0  # explicit overrides still win
    toml.write_text("nonsense_field = 1\n")
    assert main(["train", "ml-100k", "--out", str(tmp_path / "r"), "--config", str(toml)]) == 2
    assert "c.toml: unknown config field(s): nonsense_field" in capsys.readouterr().err
    assert not math.isnan(Config().obs_scale) and Config(d=128).obs_scale == 8.0
    assert np.isclose(load_config("ml-100k", None, "w/o-common").common == "none", True)


@pytest.mark.slow
def test_analyze_writes_netcdf_summary_and_plots(trained_run):
    import arviz as az

    assert main(["analyze", str(trained_run), "--samples", "10", "--warm-items", "40"]) == 0
    out = trained_run / "analysis"
    idata = az.from_netcdf(out / "posterior.nc")
    e_new = idata.posterior["e_new"]
    assert e_new.dims == ("chain", "draw", "item", "latent") and e_new.shape[:2] == (1, 10)
    assert bool(np.isfinite(e_new.values).all())
    summary = pd.read_csv(out / "summary.csv")
    assert {"mean", "sd", "hdi_3%", "hdi_97%"} <= set(summary.columns)
    assert (summary["hdi_3%"] <= summary["hdi_97%"]).all()
    assert len(list(out.glob("*.png"))) >= 2
    report = (out / "report.md").read_text()
    assert "Pareto k̂" in report and "R-hat is not reported" in report
    assert "calibration: cold/warm sd " in report
    cold_path = json.loads((trained_run / "config.json").read_text())
    cold_path = cold_path.get("config", cold_path)["cold_path"]
    said = report.split("## Calibration")[0]  # the report names the cold path this run used, not another one
    guide, prior = "the guide without the ID view", "the conditional prior of Eq. 22"
    assert (guide in said, prior in said) == (cold_path == "guide", cold_path == "prior")
    assert len(pd.read_csv(out / "calibration_items.csv")) > 0
    # an existing analysis is not replaced without --force, nor a user's own file in it deleted
    (out / "my-notes.txt").write_text("mine")
    assert main(["analyze", str(trained_run), "--samples", "10", "--warm-items", "40"]) == 2
    user = "1"
    assert main(["analyze", str(trained_run), "--samples", "10", "--warm-items", "40", "--user", user,
                 "--force"]) == 0
    assert f"reference user {user} (given by --user)" in (out / "report.md").read_text()
    assert (out / "my-notes.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.parametrize("prior", ["standard", "poe", "mixture", "vamp"])
def test_train_one_epoch_with_each_prior(prior, ml100k_images, data_dir, tmp_path):
    run = tmp_path / prior
    assert main(["train", "ml-100k", "--data-dir", str(data_dir), "--out", str(run), "--prior", prior,
                 "--epochs", "1"]) == 0
    meta = json.loads((run / "config.json").read_text())
    assert meta["config"]["prior"] == prior
    assert main(["evaluate", str(run)]) == 0
    assert math.isfinite(json.loads((run / "metrics.json").read_text())["test"]["hr@5"])
