"""One training loop (``train/trainer.py``) for M²VAE and every learned baseline, under one budget dataclass."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from m2vae_pyro.baselines import Settings, build_baseline
from m2vae_pyro.budget import Budget
from m2vae_pyro.config import Config, load_config
from m2vae_pyro.data import DataError, cold_start_split
from m2vae_pyro.experiments.cells import fit_cell, resume_path, run_cells
from m2vae_pyro.train.errors import Interrupted, TrainingError
from m2vae_pyro.train.trainer import Trainer

from synthetic import tiny_dataset

SIZES = {"d": 8, "hidden": 16}  # a baseline's network sizes on the tiny set
BUDGET = dict(epochs=3, patience=10, batch_size=64, c_p=2, c_n=4)


def _baseline(name: str, **changes):
    ds = tiny_dataset(n_users=60, n_items=40)
    return build_baseline(name, ds, cold_start_split(ds, 0, threshold=None), Settings(**(BUDGET | changes)), SIZES)


def _rows(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]


def test_config_and_settings_share_the_budget_the_trainer_reads():
    assert issubclass(Config, Budget) and issubclass(Settings, Budget)
    assert {f.name for f in dataclasses.fields(Budget)} >= {"epochs", "patience", "lr", "batch_size", "seed",
                                                             "device"}
    # the trainer reads the budget's fields only: a bare Budget with the same values trains the same model
    straight = _baseline("mtpr")
    history = straight.fit(progress=False)
    model = _baseline("mtpr")
    budget = Budget(**{f.name: getattr(model.settings, f.name) for f in dataclasses.fields(Budget)})
    again = Trainer(model, budget, progress=False).run()
    assert _rows(again) == _rows(history) and again.best_epoch == history.best_epoch
    for k, v in straight.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


# each its own batch stream: M²VAE's triples, a batch repeated (CVAR), pairs with items drawn per user
# (DropoutNet), users with negative items and a content mask from the global RNG (CLCRec), warm items after a
# pre-training (GoRec), two phases an epoch (LARA)
@pytest.mark.parametrize("name", ["mtpr", "cvar", "dropoutnet", "clcrec", "gorec", "lara"])
def test_a_baseline_interrupted_mid_epoch_resumes_exactly(name):
    straight = _baseline(name)
    history = straight.fit(progress=False)

    first = _baseline(name)
    trainer = first.trainer(progress=False)
    with pytest.raises(Interrupted):
        trainer.run(should_stop=lambda: trainer.step >= 2)
    state = trainer.state_dict()
    torch.manual_seed(12345)  # whatever happens to the global RNG in between is undone by the state

    second = _baseline(name)
    resumed = second.trainer(progress=False)
    resumed.load_state_dict(state)
    again = resumed.run()
    assert _rows(again) == _rows(history) and (again.best_epoch, again.best_score) == \
        (history.best_epoch, history.best_score)
    for k, v in straight.state_dict().items():
        assert torch.equal(v, second.state_dict()[k]), k


def test_a_baseline_with_a_nan_loss_stops_naming_the_step():
    model = _baseline("mtpr")
    loss = model.loss
    calls = {"n": 0}

    def poisoned(batch):
        calls["n"] += 1
        return loss(batch) * (float("nan") if calls["n"] == 3 else 1.0)

    model.loss = poisoned
    with pytest.raises(TrainingError, match=r"loss term 'loss' is nan at step 2"):
        model.fit(progress=False)


def test_a_killed_experiment_cell_resumes_from_its_last_epoch(tmp_path):
    cell = tmp_path / "cells" / "cvar" / "seed0.json"
    cell.parent.mkdir(parents=True)
    straight = fit_cell(_baseline("cvar"), tmp_path / "straight.json")

    killed = _baseline("cvar")
    validate, calls = killed.validate, {"n": 0}

    def dies_in_epoch_two() -> float:  # as a kill after epoch 1's state was written
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return validate()

    killed.validate = dies_in_epoch_two
    with pytest.raises(KeyboardInterrupt):
        fit_cell(killed, cell)
    assert resume_path(cell).is_file()
    run_cells(tmp_path, [(cell, "cvar seed 0", lambda: fit_cell(_baseline("cvar"), cell))], "test", progress=False)
    resumed = json.loads(cell.read_text())
    assert resumed["resumed_at_epoch"] == 1 and resumed["seconds_before_resume"] > 0
    assert (resumed["best_epoch"], resumed["best_val_hr@5"]) == (straight["best_epoch"], straight["best_val_hr@5"])
    assert not resume_path(cell).exists()  # the cell's result replaces it, once written


@pytest.mark.parametrize("resume_other_code", [False, True])  # the default; --resume-other-code
def test_a_resume_state_of_other_code_is_resumed_only_when_asked(tmp_path, monkeypatch, resume_other_code):
    import m2vae_pyro.provenance as provenance

    cell = tmp_path / "seed0.json"
    model = _baseline("mtpr", epochs=1)
    monkeypatch.setattr(provenance, "_source", "other code")
    killed = model.trainer(progress=False)
    with pytest.raises(Interrupted):
        killed.run(should_stop=lambda: killed.step >= 1)
    torch.save({"trainer": killed.state_dict(), "source": "other code", "seconds": 1.0}, resume_path(cell))
    monkeypatch.setattr(provenance, "_source", "this code")
    info = fit_cell(_baseline("mtpr", epochs=1), cell, resume_other_code)
    assert info["best_epoch"] == 1
    if resume_other_code:  # resumed, and the cell says from which code
        assert info["resumed_at_epoch"] == 0 and info["seconds_before_resume"] == 1.0
        assert info["resumed_from_source"] == "other code"
    else:
        assert "resumed_at_epoch" not in info and "resumed_from_source" not in info


def test_the_device_is_a_budget_setting_applied_or_refused():
    with pytest.raises(DataError, match="baselines train on the CPU only"):
        _baseline("mtpr", device="cuda")
    with pytest.raises(DataError, match="device = 'gpu'"):
        load_config("ml-100k", device="gpu")
    assert load_config("ml-100k", device="cuda:1").device == "cuda:1"  # checked against the machine where used
    assert math.isfinite(Settings().lr) and Settings().device == Config().device == "cpu"


def test_train_applies_or_refuses_the_device_setting(tmp_path, capsys):
    from m2vae_pyro.cli import main

    run = tmp_path / "run"
    assert main(["train", "ml-100k", "--out", str(run), "--device", "cpu", "--set", "device=cuda"]) == 2
    assert "--device cpu and --set device=cuda disagree" in capsys.readouterr().err
    if not torch.cuda.is_available():  # the setting reaches the device check, never silently the CPU
        assert main(["train", "ml-100k", "--out", str(run), "--set", "device=cuda"]) == 2
        assert "no CUDA device is available" in capsys.readouterr().err
    assert not run.exists()


def test_an_experiment_hands_the_baselines_the_shared_budget():
    from m2vae_pyro.experiments.models import Spec, baseline_settings

    settings = baseline_settings(Spec("ml-100k", 7, {"patience": 3, "eval_every": 2, "batch_size": 512}), seed=4)
    assert (settings.epochs, settings.patience, settings.eval_every, settings.batch_size, settings.seed) == \
        (7, 3, 2, 512, 4)
    assert (settings.lr, settings.weight_decay) == (Settings().lr, Settings().weight_decay)  # each model's own


def test_an_experiment_applies_or_refuses_the_device_of_its_m2vae_cells(tmp_path, capsys):
    from m2vae_pyro.cli import main

    out = tmp_path / "exp"
    argv = ["experiment", "ml-100k", "--out", str(out), "--models", "m2vae", "--seeds", "1"]
    assert main(argv + ["--device", "cpu", "--set", "device=cuda"]) == 2
    assert "disagree" in capsys.readouterr().err
    if not torch.cuda.is_available():  # --set device=cuda reaches the device check, never silently the CPU
        assert main(argv + ["--set", "device=cuda"]) == 2
        assert "no CUDA device is available" in capsys.readouterr().err
    assert not out.exists()
