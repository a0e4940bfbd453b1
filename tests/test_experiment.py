"""The experiment harness: every baseline behind one interface, resumable cells, results.csv and table.md."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from m2vae_pyro.baselines import BASELINES, Settings, build_baseline, spec
from m2vae_pyro.cli import main
from m2vae_pyro.data.errors import DataError
from m2vae_pyro.data.split import cold_start_split
from m2vae_pyro.experiments import results_table, run_experiment
from m2vae_pyro.experiments.harness import cell_path

from synthetic import tiny_dataset

TINY = {"d": 8, "hidden": 16}  # a baseline's network sizes on the tiny set
SMALL = {"c_p": 2, "c_n": 4, "batch_size": 64, "d": 16, "decoder_hidden": 16}


@pytest.fixture(scope="module")
def tiny():
    return tiny_dataset(n_users=60, n_items=40)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_fits_and_scores(tiny, name):
    from m2vae_pyro.baselines.registry import FIXED

    if name not in FIXED and spec(name).unavailable:
        pytest.skip(f"{name} is registered as not available")
    split = cold_start_split(tiny, 0, threshold=None)
    model = build_baseline(name, tiny, split, Settings(epochs=2, batch_size=64, c_p=2, c_n=4), TINY)
    history = model.fit(progress=False)  # every model returns the one training loop's History
    if name in FIXED:
        assert history.best_epoch == 0 and not history.rows
    else:  # trained by train/trainer.py: one row per epoch with the mean loss and the validation score
        assert 1 <= history.best_epoch <= 2 and len(history.rows) >= 1
        assert all(np.isfinite(row["loss"]) and 0 <= row["val_hr@5"] <= 1 for row in history.rows)
    users, items = torch.arange(tiny.n_users), torch.from_numpy(split.items("test"))
    with torch.inference_mode():
        scores = model.score_indices(users, items)
    assert scores.shape == (tiny.n_users, len(items))
    assert torch.isfinite(scores).all()


def test_experiment_writes_results_and_resumes(tiny, tmp_path):
    out = tmp_path / "exp"
    models = ["m2vae", "userpop", "random", "cvae"]
    frame = run_experiment(tiny, None, out, models, seeds=2, epochs=1, overrides=SMALL, progress=False)
    assert len(frame) == len(models) * 2 * 2  # models × seeds × protocols
    saved = pd.read_csv(out / "results.csv")
    assert set(saved["model"]) == set(models)
    assert {"hr@5", "ndcg@5", "ndcg_std@20", "recall@10", "protocol", "seed"} <= set(saved.columns)
    table = (out / "table.md").read_text()
    assert "m2vae vs best other" in table and "**" in table and "<u>" in table
    # resume: finished cells are reused untouched, a missing one is recomputed
    kept = cell_path(out, "cvae", 0)
    stamp = kept.stat().st_mtime_ns
    cell_path(out, "random", 1).unlink()
    run_experiment(tiny, None, out, models, seeds=2, epochs=1, overrides=SMALL, progress=False)
    assert kept.stat().st_mtime_ns == stamp
    assert cell_path(out, "random", 1).is_file()
    # another experiment in the same directory is refused unless forced
    with pytest.raises(DataError, match="epochs"):
        run_experiment(tiny, None, out, models, seeds=2, epochs=2, overrides=SMALL, progress=False)


def test_resume_after_a_change_of_code_defaults_is_refused(tiny, tmp_path, monkeypatch):
    """Cells made with other defaults would mix two models in one table: the changed field is named."""
    import m2vae_pyro.experiments.harness as harness

    out = tmp_path / "exp"
    original = harness.code_defaults

    def resume(defaults=None, refused: str | None = None):
        """Resume ``out`` under the code defaults ``defaults`` (``None``: the code's), expecting ``refused``."""
        monkeypatch.setattr(harness, "code_defaults", original if defaults is None else lambda _dataset: defaults)
        if refused is None:
            run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)
            return
        with pytest.raises(DataError, match=refused):
            run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)

    def record_without(field):
        record = json.loads((out / "experiment.json").read_text())
        del record["defaults"]["m2vae"][field]
        (out / "experiment.json").write_text(json.dumps(record))

    resume()
    resume()  # the same: fine
    changed = original(tiny.name)
    changed["m2vae"]["tau_gate"] = 0.5
    resume(changed, r"code defaults changed .*m2vae\.tau_gate 1\.0 here, 0\.5 now")
    # a setting added to the code since is no change while its value is its class default (the old behaviour) …
    record_without("content_dropout")
    resume()
    # … but a preset or tuned value of it is a change
    record_without("content_dropout")
    tuned = original(tiny.name)
    tuned["m2vae"]["content_dropout"] = 0.5
    resume(tuned, r"m2vae\.content_dropout 0\.0 here, 0\.5 now")
    resume()
    # a baseline added to the code since (no cell of it can exist here) is no change
    record = json.loads((out / "experiment.json").read_text())
    del record["defaults"]["baseline aldi"]
    (out / "experiment.json").write_text(json.dumps(record))
    resume()
    recorded = json.loads((out / "experiment.json").read_text())["defaults"]["m2vae"]
    del recorded["tau_gate"]  # a removed one is
    resume({"m2vae": recorded, "baselines": original(tiny.name)["baselines"]},
           r"m2vae\.tau_gate 1\.0 here, no longer a setting")
    legacy = json.loads((out / "experiment.json").read_text())
    del legacy["defaults"]  # a directory written before defaults were recorded is resumed as it is
    (out / "experiment.json").write_text(json.dumps(legacy))
    resume()


def test_a_change_of_m2vae_settings_discards_only_m2vae_cells_when_forced(tiny, tmp_path):
    out = tmp_path / "exp"
    models = ["m2vae", "w/o-dcl", "userpop"]
    run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=SMALL, progress=False)
    kept, redone = cell_path(out, "userpop", 0), cell_path(out, "m2vae", 0)
    stamp, old_m2vae = kept.stat().st_mtime_ns, redone.stat().st_mtime_ns
    tuned = SMALL | {"beta_co": 0.01}
    with pytest.raises(DataError, match=r"beta_co.*--force to discard the cells of M²VAE and its variants \(the "
                                         r"other cells stay valid"):
        run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=tuned, progress=False)
    assert redone.stat().st_mtime_ns == old_m2vae  # refused: nothing discarded
    run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=tuned, force=True, progress=False)
    assert kept.stat().st_mtime_ns == stamp  # the baseline's cell was reused
    assert redone.stat().st_mtime_ns != old_m2vae and cell_path(out, "w/o-dcl", 0).is_file()
    # a setting the baselines share (their negatives) invalidates every cell
    shared = tuned | {"c_n": 3}
    with pytest.raises(DataError, match=r"--force to discard its cells$"):
        run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=shared, progress=False)
    run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=shared, force=True, progress=False)
    assert kept.stat().st_mtime_ns != stamp


def test_a_change_of_one_baselines_preset_discards_only_its_cells_when_forced(tiny, tmp_path, monkeypatch):
    from m2vae_pyro.baselines import registry

    out = tmp_path / "exp"
    models = ["m2vae", "cvae", "dropoutnet"]
    run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=SMALL, progress=False)
    stamps = {m: cell_path(out, m, 0).stat().st_mtime_ns for m in models}
    dropoutnet = registry.spec("dropoutnet")
    monkeypatch.setitem(registry._SPECS, "dropoutnet", registry.BaselineSpec(
        "dropoutnet", dropoutnet.model, dropoutnet.defaults, dropoutnet.grid,
        {"movielens": {"lr": 3e-4}, "amazon": {"lr": 3e-4}}))  # as if a tuned preset had landed
    with pytest.raises(DataError, match=r"baseline dropoutnet\.lr.*discard the cells of dropoutnet \(the other"):
        run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=SMALL, progress=False)
    run_experiment(tiny, None, out, models, seeds=1, epochs=1, overrides=SMALL, force=True, progress=False)
    after = {m: cell_path(out, m, 0).stat().st_mtime_ns for m in models}
    assert after["dropoutnet"] != stamps["dropoutnet"]
    assert after["m2vae"] == stamps["m2vae"] and after["cvae"] == stamps["cvae"]


def test_cell_names_win_over_experiment_overrides():
    from m2vae_pyro.experiments.models import Spec, m2vae_config

    spec = Spec("ml-100k", overrides={"alpha_dcl": 3.0, "beta_co": 0.2, "prior": "standard"})
    assert (m2vae_config("m2vae", spec, 0).alpha_dcl, m2vae_config("m2vae", spec, 0).prior) == (3.0, "standard")
    ablated = m2vae_config("w/o-dcl", spec, 0)
    assert (ablated.alpha_dcl, ablated.beta_co, ablated.variant) == (0.0, 0.2, "w/o-dcl")
    assert m2vae_config("w/o-co-cl", spec, 0).beta_co == 0.0
    assert m2vae_config("prior:vamp", spec, 1).prior == "vamp"


def test_tune_grid_over_the_prior(tiny, tmp_path):
    from m2vae_pyro.experiments.tune import run_tune

    frame = run_tune(tiny, None, tmp_path / "t", {"prior": ["moe", "standard"]}, seeds=1, epochs=1,
                     overrides=SMALL, progress=False)
    assert len(frame) == 2


def test_tune_a_baseline_over_its_own_grid(tiny, tmp_path, monkeypatch):
    """``--model NAME`` searches the baseline's own grid (here replaced by a 2-point one) and names the preset."""
    from m2vae_pyro.baselines import registry
    from m2vae_pyro.experiments.tune import run_tune

    cvae = registry.spec("cvae")
    monkeypatch.setitem(registry._SPECS, "cvae", registry.BaselineSpec(
        "cvae", cvae.model, cvae.defaults | {"d": 8, "hidden": 16}, {"lr": [1e-3, 1e-2]}))
    frame = run_tune(tiny, None, tmp_path / "t", seeds=1, epochs=1, overrides=SMALL, progress=False, model="cvae")
    assert list(frame["point"]) == ["lr=0.001", "lr=0.01"] and frame["val_hr@5"].between(0, 1).all()
    best = frame.loc[frame["val_hr@5"].idxmax(), "lr"]
    assert f"TUNED['movielens'] = {{'lr': {best}}}" in (tmp_path / "t" / "tune.md").read_text()
    with pytest.raises(DataError, match="unknown hyperparameter"):
        run_tune(tiny, None, tmp_path / "t2", {"tua": [1.0]}, seeds=1, progress=False, model="cvae")
    with pytest.raises(DataError, match="choose m2vae or a learned baseline"):
        run_tune(tiny, None, tmp_path / "t3", seeds=1, progress=False, model="userpop")


def test_same_split_for_every_model_of_a_seed(tiny, tmp_path):
    out = tmp_path / "exp"
    run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    frame = pd.read_csv(out / "results.csv")
    n = frame.groupby(["protocol", "model"])["n_queries"].first().unstack()
    assert (n.nunique(axis=1) == 1).all()  # same cold queries for both models


def test_results_table_marks_best_second_and_gain():
    rows = []
    for model, hr in (("m2vae", 0.30), ("a", 0.20), ("b", 0.25)):
        for seed in range(2):
            rows.append({"model": model, "seed": seed, "protocol": "item-to-user", "hr@5": hr + seed * 0.01,
                         "ndcg@5": hr, "ndcg_std@5": hr})
    text = results_table(pd.DataFrame(rows), ks=(5,))
    assert "**0.3050 ± 0.0071**" in text
    assert "<u>0.2550 ± 0.0071</u>" in text
    assert f"{(0.305 - 0.255) / 0.255 * 100:+.1f}%" in text
    assert "best trained model" not in text  # no references in this table


def test_gain_over_the_best_trained_model_leaves_references_out():
    rows = [{"model": model, "seed": 0, "protocol": "item-to-user", "hr@5": hr, "ndcg@5": hr, "ndcg_std@5": hr}
            for model, hr in (("m2vae", 0.30), ("userpop", 0.40), ("dropoutnet", 0.20))]
    text = results_table(pd.DataFrame(rows), ks=(5,), references={"userpop", "random"})
    assert "±" not in text and "(test cold items, one seed)" in text  # one seed: no "± 0.0000"
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if " vs " in line}
    assert f"{(0.30 - 0.40) / 0.40 * 100:+.1f}%" in lines["| m2vae vs best other"]
    assert f"{(0.30 - 0.20) / 0.20 * 100:+.1f}%" in lines["| m2vae vs best trained model"]


def test_unknown_model_is_named(tiny, tmp_path):
    with pytest.raises(DataError, match="lightgcn"):
        run_experiment(tiny, None, tmp_path / "x", ["m2vae", "lightgcn"], seeds=1)


def test_cli_experiment_rejects_bad_seed_count(data_dir, tmp_path, capsys):
    assert main(["experiment", "ml-100k", "--data-dir", str(data_dir), "--out", str(tmp_path / "e"),
                 "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err




def test_cli_ablate_on_synthetic_data_compares_variants_and_priors(tmp_path, capsys):
    assert main(["data", "synth", "a", "--out", str(tmp_path), "--users", "80", "--items", "100",
                 "--per-user", "10"]) == 0
    out = tmp_path / "ablate"
    sets = [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]
    assert main(["ablate", "synth-a", "--data-dir", str(tmp_path), "--out", str(out), "--models",
                 "full,w/o-dcl,prior:standard", "--seeds", "1", "--epochs", "1", "--set", "threshold=null",
                 *sets]) == 0
    frame = pd.read_csv(out / "results.csv")
    assert set(frame["model"]) == {"full", "w/o-dcl", "prior:standard"}
    assert "full vs best other" in (out / "table.md").read_text()
    assert "full vs best other" in capsys.readouterr().out


def test_ablating_the_fusion_of_one_modality_is_flagged(tmp_path, capsys):
    import warnings

    import m2vae_pyro.cli as cli

    one = tiny_dataset(n_users=60, n_items=40, image=False)
    with pytest.warns(UserWarning, match="w/o-sg, w/o-v-moe train the full model"):
        run_experiment(one, None, tmp_path / "one", ["w/o-sg", "w/o-v-moe"], seeds=1, epochs=1,
                       overrides=SMALL, progress=False)
    # the command prints the package's own warnings as advice, without a source location
    cli._show_warning(warnings.showwarning, "leave them out", UserWarning, cli.__file__, 1)
    assert capsys.readouterr().err == "m2vae: warning: leave them out\n"


def test_tune_ranks_grid_points_on_validation_only_and_resumes(tiny, tmp_path, monkeypatch, capsys):
    """Every point × seed is trained once; cells hold validation scores only; a rerun trains nothing."""
    import m2vae_pyro.experiments.tune as tune
    from m2vae_pyro.experiments.tune import run_tune

    out = tmp_path / "tune"
    grid = {"alpha_dcl": [0.0, 10.0], "beta_co": [0.5]}
    frame = run_tune(tiny, None, out, grid, seeds=2, epochs=1, overrides=SMALL, progress=False)
    assert len(frame) == 4 and set(frame["point"]) == {"alpha_dcl=0.0,beta_co=0.5", "alpha_dcl=10.0,beta_co=0.5"}
    assert frame["val_hr@5"].between(0, 1).all()
    cells = list((out / "cells").rglob("seed*.json"))
    assert len(cells) == 4 and all(set(json.loads(c.read_text())) ==
                                   {"point", "seed", "best_epoch", "val_hr@5", "seconds", "source"} for c in cells)
    means = frame.groupby("point")["val_hr@5"].mean()
    text = (out / "tune.md").read_text()
    assert f"best: `--set {means.idxmax().replace(',', ' --set ')}`" in text

    def no_training(*args, **kwargs):
        raise AssertionError("finished cells must not be trained again")

    monkeypatch.setattr(tune.M2VAE, "fit", no_training)
    assert run_tune(tiny, None, out, grid, seeds=2, epochs=1, overrides=SMALL, progress=False).equals(frame)
    with pytest.raises(DataError, match="grid"):  # another search in the same directory
        run_tune(tiny, None, out, {"alpha_dcl": [1.0]}, seeds=2, epochs=1, overrides=SMALL, progress=False)
    with pytest.raises(DataError, match="not a Config field"):
        run_tune(tiny, None, tmp_path / "t2", {"alpah": [1.0]}, progress=False)
    with pytest.raises(DataError, match="given both"):
        run_tune(tiny, None, tmp_path / "t3", {"d": [8]}, overrides=SMALL, progress=False)
    assert main(["tune", "ml-100k", "--out", str(tmp_path / "t4"), "--grid", "alpha_dcl"]) == 2
    assert "--grid 'alpha_dcl': expected KEY=V1,V2" in capsys.readouterr().err


def test_a_cell_held_by_a_live_process_is_left_to_it_and_a_stale_claim_is_taken_over(tiny, tmp_path, monkeypatch,
                                                                                      capsys):
    """Two processes can share one experiment directory: a claimed cell is skipped, the tables wait for it."""
    import os
    import socket
    import subprocess
    import sys

    from m2vae_pyro.experiments.cells import CellsPending, lock_path

    out = tmp_path / "exp"
    run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    held = cell_path(out, "random", 0)
    held.parent.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(held).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        with pytest.raises(CellsPending, match=rf"1 cell\(s\) still running .*{other.pid}@"):
            run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL,
                           progress=False)
        assert not held.is_file() and lock_path(held).is_file()
        # the same pid, started at another time: a restarted machine reused the pid, the claim is stale
        from m2vae_pyro.experiments.cells import _stale, _start_time

        started = _start_time(other.pid)
        assert started is not None
        lock_path(held).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(), "started": started}))
        assert not _stale(lock_path(held))
        lock_path(held).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                               "started": started - 1}))
        assert _stale(lock_path(held))
        lock_path(held).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
    finally:
        other.kill()
        other.wait()
    # the holder is gone: its claim is stale and the cell runs here; no lock is left behind
    frame = run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL,
                           progress=False)
    assert set(frame["model"]) == {"userpop", "random"} and held.is_file()
    assert not list((out / "cells").rglob("*.lock"))
    assert os.path.isfile(out / "table.md")

    def pending(*args, **kwargs):
        raise CellsPending(2, ["123@host"])

    monkeypatch.setattr("m2vae_pyro.experiments.run_experiment", pending)
    assert main(["experiment", "ml-100k", "--out", str(tmp_path / "e2"), "--models", "userpop"]) == 0
    assert "this process is done: 2 cell(s) still running in other process(es) (123@host)" in capsys.readouterr().out


def test_amazon_rows_run_at_published_amazon_values_else_the_ml100k_preset():
    """Issue 31's rule: no tuning on Amazon for any model."""
    from m2vae_pyro.baselines.registry import settings_source, spec

    gorec, gar = spec("gorec"), spec("gar")
    assert gorec.hyper("amazon-sports")["kl_weight"] == gorec.published["amazon"]["kl_weight"]
    assert settings_source("gorec", "amazon-beauty") == "published (amazon)"
    assert gar.hyper("amazon-beauty") == gar.hyper("ml-100k") == gar.defaults | gar.tuned["movielens"]
    assert settings_source("gar", "amazon-beauty") == settings_source("gar", "ml-100k") == "tuned on ml-100k"
    assert settings_source("userpop", "amazon-beauty") == "untrained"


def test_cells_record_the_source_hash_and_stale_ones_are_reported_or_recomputed(tiny, tmp_path):
    from m2vae_pyro.provenance import source_hash

    out = tmp_path / "exp"
    run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    cell = cell_path(out, "userpop", 0)
    assert json.loads(cell.read_text())["source"] == source_hash()
    record = json.loads(cell.read_text()) | {"source": "0123456789abcdef"}
    cell.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match=r"1 of 1 finished cells .* computed by other code .*0123456789abcdef"):
        run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    assert json.loads(cell.read_text())["source"] == "0123456789abcdef"  # kept
    run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False,
                   force_stale=True)
    assert json.loads(cell.read_text())["source"] == source_hash()  # recomputed by this code


def test_a_screen_runs_some_models_on_more_seeds_and_the_table_says_so(tiny, tmp_path):
    out = tmp_path / "exp"
    frame = run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL,
                           progress=False, seeds_of={"userpop": 2})
    counts = frame.dropna(subset=["protocol"]).groupby("model")["seed"].nunique()
    assert counts.to_dict() == {"random": 1, "userpop": 2} and cell_path(out, "userpop", 1).is_file()
    table = (out / "table.md").read_text()
    assert "| userpop (n 2) |" in table and "| random (n 1) |" in table and "each row's seeds" in table
    with pytest.raises(DataError, match="--seeds-of gorec=3: gorec is not in --models"):
        run_experiment(tiny, None, out, ["userpop"], seeds=1, seeds_of={"gorec": 3}, progress=False)


def test_a_command_on_some_of_a_directorys_models_leaves_the_directorys_table_alone(tiny, tmp_path, capsys,
                                                                                   monkeypatch):
    out = tmp_path / "exp"
    run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    table = (out / "table.md").read_text()
    assert "| random" in table and "| userpop" in table
    frame = run_experiment(tiny, None, out, ["userpop"], seeds=2, epochs=1, overrides=SMALL, progress=False)
    assert cell_path(out, "userpop", 1).is_file()  # the subset's cells are computed
    assert (out / "table.md").read_text() == table  # the directory's table is not replaced by userpop's alone
    assert "random" in frame.attrs["not_written"] and "| userpop" in frame.attrs["table"]
    monkeypatch.setattr("m2vae_pyro.experiments.run_experiment", lambda *a, **k: frame)
    assert main(["experiment", "ml-100k", "--out", str(out), "--models", "userpop"]) == 0
    printed = capsys.readouterr().out
    assert "| userpop" in printed and "not written: " in printed and "also holds cells of random" in printed


def test_a_model_listed_as_not_run_gets_a_row_saying_why_and_no_cells(tiny, tmp_path):
    """Issue 31's rule 4: a cell projected above the cost ceiling is not run; its row says so."""
    out = tmp_path / "exp"
    run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    (out / "not_run.json").write_text(json.dumps({"random": "projected 9.1 core-hours (rule 4)"}))
    frame = run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL,
                           progress=False)
    assert not cell_path(out, "random", 0).exists() and cell_path(out, "userpop", 0).is_file()
    assert frame.loc[frame["model"] == "random", "note"].tolist() == ["not run: projected 9.1 core-hours (rule 4)"]
    assert "not run: projected 9.1 core-hours (rule 4)" in (out / "table.md").read_text()
    (out / "not_run.json").write_text(json.dumps({"userpop": "projected 3 core-hours"}))
    with pytest.raises(DataError, match="userpop is listed as not run but has cells"):
        run_experiment(tiny, None, out, ["userpop", "random"], seeds=1, epochs=1, overrides=SMALL, progress=False)
    (out / "not_run.json").write_text("{oops")
    with pytest.raises(DataError, match=r"not_run.json: not valid JSON"):
        run_experiment(tiny, None, out, ["userpop"], seeds=1, epochs=1, overrides=SMALL, progress=False)
