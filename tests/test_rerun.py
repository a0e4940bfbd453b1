"""Nothing the user has is lost: a --force rerun replaces the old run only once it has finished, never touches the
user's own files, and a training process killed with SIGKILL resumes from its last epoch exactly."""

import json
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from m2vae_pyro.cli import main
from m2vae_pyro.config import load_config
from m2vae_pyro.runs import RESUME_FILE, resume_run, train_run
from m2vae_pyro.train.errors import Interrupted

from synthetic import shop_folder

SMALL = ["--set", "d=16", "--set", "batch_size=64"]


@pytest.fixture
def shop(tmp_path):
    return shop_folder(tmp_path / "shop")[0]


def test_forced_rerun_that_fails_or_is_interrupted_leaves_the_old_run(shop, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(shop), "--out", str(run), "--epochs", "1", *SMALL]) == 0
    (run / "notes.txt").write_text("mine")
    (run / "analysis").mkdir()
    (run / "analysis" / "mine.txt").write_text("mine too")
    (run / "analysis" / "report.md").write_text("an old analysis")

    # a rerun that fails (no positives in its data) changes nothing
    empty = tmp_path / "empty"
    empty.mkdir()
    pd.DataFrame({"user": ["u1"], "item": ["i00"], "rating": [1]}).to_csv(empty / "interactions.csv", index=False)
    (empty / "items.csv").write_text((shop / "items.csv").read_text())
    capsys.readouterr()
    before = {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()}
    assert main(["train", str(empty), "--out", str(run), "--force", "--epochs", "1", *SMALL]) == 2
    assert "no interaction is a positive" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()} == before
    assert not run.with_name("run.partial").exists()

    # an interrupted rerun leaves the old run too; resuming it finishes and replaces the old outputs only
    cfg = load_config(str(shop), epochs=2, seed=1, d=16, batch_size=64)
    with pytest.raises(Interrupted, match=r"untouched.*m2vae train --resume .*run\.partial"):
        train_run(str(shop), None, run, cfg, force=True, progress=False, stop_at_step=1)
    assert {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()} == before
    partial = run.with_name("run.partial")
    assert (partial / RESUME_FILE).is_file()
    resume_run(partial, progress=False)
    assert not partial.exists()
    assert json.loads((run / "config.json").read_text())["config"]["seed"] == 1  # the new run's outputs
    assert (run / "notes.txt").read_text() == "mine" and (run / "analysis" / "mine.txt").read_text() == "mine too"
    assert not (run / "analysis" / "report.md").exists()  # the old run's analysis went with it
    assert not (run / RESUME_FILE).exists()


def test_a_run_whose_outputs_fail_after_training_keeps_its_state_and_resume_writes_them(shop, tmp_path, monkeypatch,
                                                                                        capsys):
    """A failure after the last epoch (the curves' reference lines once asked for 82 GB on an ML-20M-size catalogue)
    must not take the trained run with it: the state stays, one clear line says how to finish, and a resume writes the
    outputs without training again."""
    from m2vae_pyro import runs

    write_outputs = runs._write_outputs

    def failing(*args, **kwargs):
        raise RuntimeError("can't allocate memory")

    monkeypatch.setattr(runs, "_write_outputs", failing)
    run = tmp_path / "run"
    assert main(["train", str(shop), "--out", str(run), "--epochs", "2", *SMALL]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("m2vae")]  # not the bars
    assert len(err) == 1 and "training finished" in err[0] and "can't allocate memory" in err[0]
    assert f"m2vae train --resume {run}" in err[0]
    assert (run / RESUME_FILE).is_file() and (run / "checkpoint.pt").is_file() and not (run / "train.json").exists()

    monkeypatch.setattr(runs, "_write_outputs", write_outputs)
    model = resume_run(run, progress=False)
    assert len(model.history.rows) == 2  # the two trained epochs, none added
    assert (run / "train.json").is_file() and (run / "curves.png").is_file() and not (run / RESUME_FILE).exists()


def test_a_non_finite_loss_after_an_epoch_keeps_the_best_checkpoint_it_names(shop, tmp_path, monkeypatch, capsys):
    """The trainer's error says the best checkpoint so far is kept: the run directory must keep it (it removed the
    whole new run before), and the line names it."""
    from m2vae_pyro.train.errors import TrainingError
    from m2vae_pyro.train.trainer import Trainer

    step = Trainer._step

    def failing_later(self, batch):
        if self.step >= 8:  # past the first epoch's checkpoint (5 batches an epoch)
            raise TrainingError(f"loss term 'loss' is nan at step {self.step}; training stopped "
                                "(the best checkpoint so far is kept)")
        return step(self, batch)

    monkeypatch.setattr(Trainer, "_step", failing_later)
    run = tmp_path / "run"
    assert main(["train", str(shop), "--out", str(run), "--epochs", "3", *SMALL]) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("m2vae")]
    assert len(err) == 1 and "is nan at step 8" in err[0] and err[0].endswith(str(run / "checkpoint.pt"))
    assert (run / "checkpoint.pt").is_file() and (run / "config.json").is_file()


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_equals_the_uninterrupted_run(shop, tmp_path):
    args = [str(shop), "--epochs", "8", *SMALL, "--set", "patience=10"]
    straight = tmp_path / "straight"
    assert main(["train", *args, "--out", str(straight)]) == 0
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "m2vae_pyro", "train", *args, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while not (run / RESUME_FILE).exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(random.uniform(0.0, 0.5))  # somewhere in a later epoch (or at its end)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before SIGKILL landed"
    assert (run / RESUME_FILE).is_file() and not (run / "train.json").exists()
    assert main(["train", "--resume", str(run)]) == 0
    assert pd.read_csv(run / "history.csv").drop(columns="seconds").equals(
        pd.read_csv(straight / "history.csv").drop(columns="seconds"))
    assert (run / "checkpoint.pt").is_file() and not (run / RESUME_FILE).exists()
